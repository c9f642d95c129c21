"""IOSPEC and MODEL on a target: what the host says about its model, and the model files it uploads.

A model may need companion files (ONNX external data): IOSPEC declares them (``files``: name, size, SHA-256)
and the host uploads each in its own MODEL sequence before the model file itself. Each companion is checked
against its declaration (plain name, size, digest) before it is kept; the model file is loaded only when every
declared companion is present and verified. The per-model limit counts all files together.

Everything a host sends lands in ``<workdir>/models`` under a checked plain file name, through a private
``.part`` file (``O_EXCL | O_NOFOLLOW``) that is removed on every error path and renamed into place only
when complete. The work directory has a quota, checked before an upload is accepted; a session's uploads are
deleted when it ends unless the operator keeps them (``edgeai serve --keep-models``). Where the operator
pinned what may run (``--allowed-models``), a model whose SHA-256 is not listed is deleted, never loaded.

A host may set only runtime parameters declared host-settable (``Param(..., host=True)``); the rest are the
operator's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeai_core.artifacts import Artifact, IOSpec
from edgeai_core.artifacts import file_sha256 as sha256_file
from edgeai_core.errors import ArtifactError, EdgeaiError
from edgeai_core.wire import messages as msg
from edgeai_core.wire.connection import Frame
from edgeai_core.wire.framing import ErrorCode, Flag, MessageType, WireError

if TYPE_CHECKING:
    from edgeai_core.wire.session import Session

log = logging.getLogger(__name__)

_OK = int(MessageType.OK)
_MORE = int(Flag.MORE)
_CONT = int(Flag.CONT)
#: Largest dimension accepted in an IO spec (a bound that keeps shape arithmetic finite).
MAX_DIM = 2**31 - 1
_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Name prefix of in-progress uploads in ``models/``.
PART_PREFIX = ".upload-"


class _Upload:
    """A model upload in progress (``fd`` < 0: a rejected one whose remaining chunks are dropped)."""

    __slots__ = ("fd", "name", "received", "rejecting", "tmp", "total")

    def __init__(self, name: str = "", total: int = 0, fd: int = -1, tmp: Path | None = None) -> None:
        self.name = name
        self.total = total
        self.fd = fd
        self.tmp = tmp
        self.received = 0
        self.rejecting = fd < 0


def check_io_dims(io: IOSpec) -> None:
    """Every dimension is a non-negative integer, null (dynamic) or a short symbolic name (dynamic)."""
    for tensor in (*io.inputs, *io.outputs):
        for i, d in enumerate(tensor.shape):
            if d is None:
                continue
            if isinstance(d, bool) or not isinstance(d, (int, str)):
                shown = "NaN/inf" if isinstance(d, float) and not math.isfinite(d) else repr(d)
                raise WireError(
                    ErrorCode.BAD_PAYLOAD,
                    f"IOSPEC: tensor '{tensor.name}' dimension {i} is {shown}; "
                    "dimensions are integers >= 0, or null for a dynamic one",
                )
            if isinstance(d, int) and not 0 <= d <= MAX_DIM:
                raise WireError(
                    ErrorCode.BAD_PAYLOAD,
                    f"IOSPEC: tensor '{tensor.name}' dimension {i} is {d}; "
                    f"dimensions are integers from 0 to {MAX_DIM}, or null for a dynamic one",
                )
            if isinstance(d, str) and not _SYMBOL.match(d):
                raise WireError(
                    ErrorCode.BAD_PAYLOAD,
                    f"IOSPEC: tensor '{tensor.name}' dimension {i} is {d[:40]!r}; a named dynamic "
                    "dimension is a short identifier (or use null)",
                )


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files below ``folder`` (links are not followed)."""
    total = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            try:
                if entry.is_dir(follow_symlinks=False):
                    total += folder_bytes(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


def _save_sidecar(artifact: Artifact) -> None:
    """Write the artifact's sidecar atomically (temporary file, then rename) but without the fsync of
    :func:`~edgeai_core.artifacts.write_json_atomic`: the work directory is scratch space, the model file
    is not fsynced either, and on ext4 an fsync right after a large upload can cost a tenth of it."""
    text = json.dumps(artifact.to_json(), indent=2, allow_nan=False) + "\n"
    tmp = artifact.sidecar.with_name(f".{secrets.token_hex(8)}.sidecar.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, artifact.sidecar)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ModelStore:
    """The session's IOSPEC and its uploads into the work directory."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.server = session.server
        self.spec: dict[str, Any] | None = None
        self.upload: _Upload | None = None
        #: files this session stored (deleted at its end unless the operator keeps models)
        self.stored: list[Path] = []
        #: companion files of the current IOSPEC that arrived and matched their declaration
        self.verified: dict[str, Path] = {}

    # -- IOSPEC ----------------------------------------------------------------------------------------

    def on_iospec(self, frame: Frame) -> None:
        payload = frame.payload or b""
        rid = frame.request_id
        session = self.session
        if not len(payload):
            artifact = session.inference.artifact
            if artifact is None:
                raise WireError(ErrorCode.NO_MODEL, "no model is loaded; upload one (IOSPEC, then MODEL)")
            session.send(MessageType.IOSPEC, [msg.encode_json(artifact.to_json())], rid)
            return
        doc = msg.decode_json_object(payload, "IOSPEC")
        record = self.server.runtime_record
        fmt = doc.get("format")
        if not isinstance(fmt, str):
            raise WireError(ErrorCode.BAD_PAYLOAD, "IOSPEC: 'format' must be a string")
        if fmt not in record.formats:
            raise WireError(
                ErrorCode.UNSUPPORTED_FORMAT,
                f"runtime {record.name} on this target loads {', '.join(record.formats)} models, not {fmt}",
            )
        try:
            io = IOSpec.from_json(doc.get("io"))  # type: ignore[arg-type]
        except (ArtifactError, TypeError, ValueError, KeyError, AttributeError) as exc:
            raise WireError(ErrorCode.BAD_PAYLOAD, f"IOSPEC: bad 'io': {exc}") from None
        check_io_dims(io)
        files = self._declared_files(doc)
        params = self._runtime_params(doc.get("runtime"))
        self.spec = {"format": fmt, "io": io, "params": params, "doc": doc, "files": files}
        self.verified = {}
        session.send(_OK, [], rid)

    def _declared_files(self, doc: dict[str, Any]) -> dict[str, tuple[int, str]]:
        """IOSPEC's ``files``: companion name -> (size, sha256), each checked; absent means none."""
        entries = doc.get("files", [])
        if not isinstance(entries, list):
            raise WireError(ErrorCode.BAD_PAYLOAD, "IOSPEC: 'files' must be a list of {name, size, sha256}")
        if len(entries) > msg.MAX_MODEL_FILES:
            raise WireError(
                ErrorCode.BAD_PAYLOAD,
                f"IOSPEC: {len(entries)} model files declared; this target accepts at most "
                f"{msg.MAX_MODEL_FILES}",
            )
        primary = doc.get("file")
        declared: dict[str, tuple[int, str]] = {}
        for entry in entries:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                raise WireError(ErrorCode.BAD_PAYLOAD, "IOSPEC: every 'files' entry needs a string 'name'")
            msg.check_name(name)
            if name in declared or name == primary:
                what = "is declared twice" if name in declared else "is the model file's own name"
                raise WireError(ErrorCode.BAD_NAME, f"IOSPEC: model file {name!r} {what}")
            size, digest = entry.get("size"), entry.get("sha256")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise WireError(ErrorCode.BAD_PAYLOAD, f"IOSPEC: file {name}: 'size' must be an integer >= 0")
            if not isinstance(digest, str) or not _SHA256.match(digest):
                raise WireError(
                    ErrorCode.BAD_PAYLOAD, f"IOSPEC: file {name}: 'sha256' must be 64 lowercase hex digits"
                )
            declared[name] = (size, digest)
        total, limit = sum(size for size, _ in declared.values()), self.server.limits.max_model_bytes
        if total > limit:
            raise WireError(
                ErrorCode.MODEL_TOO_LARGE,
                f"the model's {len(declared)} companion files have {total} bytes; this target accepts at "
                f"most {limit} bytes per model, all files together (edgeai serve --max-model-mb)",
            )
        return declared

    def _runtime_params(self, requested: Any) -> dict[str, Any]:
        record = self.server.runtime_record
        merged = dict(self.server.runtime_params)
        if requested is not None:
            if not isinstance(requested, dict):
                raise WireError(ErrorCode.BAD_PAYLOAD, "IOSPEC: 'runtime' must be an object")
            name = requested.get("name", record.name)
            if name != record.name:
                raise WireError(
                    ErrorCode.UNEXPECTED,
                    f"this target serves runtime {record.name}, the host asked for {name}; "
                    f"start `edgeai serve --runtime {name}` or change the config's runtime",
                )
            params = requested.get("params") or {}
            if not isinstance(params, dict):
                raise WireError(ErrorCode.BAD_PAYLOAD, "IOSPEC: 'runtime.params' must be an object")
            allowed = set(record.host_settable)
            for key in params:
                name = str(key).replace("-", "_")
                if name not in allowed:
                    settable = ", ".join(sorted(allowed)) or "none"
                    raise WireError(
                        ErrorCode.NOT_ALLOWED,
                        f"runtime.{name}: only the target's operator sets this parameter "
                        f"(edgeai serve --runtime {record.name} --set runtime.{name}=...); "
                        f"a host may set: {settable}",
                    )
            merged.update(params)
        try:
            return record.params.validate(merged, "runtime")
        except EdgeaiError as exc:
            raise WireError(ErrorCode.BAD_PAYLOAD, str(exc)) from None

    # -- MODEL -----------------------------------------------------------------------------------------

    def on_model(self, frame: Frame) -> None:
        flags = frame.flags
        more = bool(flags & _MORE)
        if flags & _CONT:
            upload = self.upload
            if upload is None:
                raise WireError(ErrorCode.UNEXPECTED, "MODEL continuation chunk without a first chunk")
            if upload.rejecting:
                if not more:
                    self.upload = None
                return  # the loop drops the rest of the payload
            try:
                self._write_chunk(frame, upload, 0)
            except BaseException:
                self._abort_upload(rejecting=more)
                raise
            if not more:
                self._finish_upload(frame.request_id)
            return
        self._abort_upload()
        try:
            upload, offset = self._begin_upload(frame)
        except WireError:
            if more:
                self.upload = _Upload()  # drop the chunks that follow
            raise
        self.upload = upload
        try:
            self._write_chunk(frame, upload, offset)
        except BaseException:
            self._abort_upload(rejecting=more)
            raise
        if not more:
            self._finish_upload(frame.request_id)

    def _begin_upload(self, frame: Frame) -> tuple[_Upload, int]:
        conn = self.session.conn
        if frame.payload is not None:
            total, name, offset = msg.decode_model_head(frame.payload)
        else:  # streamed: read the head off the stream
            first = conn.read_payload(9)
            name_bytes = conn.read_payload(first[8])
            total, name, _ = msg.decode_model_head(first + name_bytes)
            offset = 0
        msg.check_name(name)
        if self.spec is None:
            raise WireError(ErrorCode.UNEXPECTED, "send IOSPEC (the model's format and IO spec) before MODEL")
        server = self.server
        limit = server.limits.max_model_bytes
        declared: dict[str, tuple[int, str]] = self.spec["files"]
        if name in declared:
            self.verified.pop(name, None)  # a re-upload replaces it: verified again, or missing
            if total != declared[name][0]:
                raise WireError(
                    ErrorCode.BAD_DIGEST,
                    f"model file {name} has {total} bytes, but IOSPEC declared {declared[name][0]}",
                )
        else:
            missing = [n for n in declared if n not in self.verified or not self.verified[n].is_file()]
            if missing:
                raise WireError(
                    ErrorCode.UNEXPECTED,
                    f"model {name} needs its file {missing[0]}, declared in IOSPEC but not uploaded "
                    f"({len(missing)} missing); upload each declared file before the model file",
                )
            companions = sum(size for size, _ in declared.values())
            if total + companions > limit:
                with_files = f" with its {len(declared)} files" if declared else ""
                raise WireError(
                    ErrorCode.MODEL_TOO_LARGE,
                    f"model {name} has {total + companions} bytes{with_files}; this target accepts at most "
                    f"{limit} bytes ({limit / 2**20:g} MiB, edgeai serve --max-model-mb)",
                )
        self._make_room(name, total)
        tmp = server.models_dir / f"{PART_PREFIX}{secrets.token_hex(8)}.part"
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        )
        try:
            fd = os.open(tmp, flags, 0o600)
        except OSError as exc:
            raise WireError(
                ErrorCode.INTERNAL, f"cannot create a file in the work directory: {exc.strerror or exc}"
            ) from None
        try:  # reserve the space now: a full disk fails before any byte is sent, and writes run twice as fast
            if total and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, total)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                os.close(fd)
                tmp.unlink(missing_ok=True)
                raise WireError(
                    ErrorCode.MODEL_TOO_LARGE,
                    f"model {name} has {total} bytes; the target's work directory has no room for it",
                ) from None
            # file systems without fallocate: write as usual
        return _Upload(name, total, fd, tmp), offset

    def _make_room(self, name: str, total: int) -> None:
        """Drop this session's earlier uploads that are not loaded, then check the work directory's quota."""
        loaded = self.session.inference.artifact
        keep = {*loaded.all_files, loaded.sidecar} if loaded is not None else set()
        keep.update(self.verified.values())
        for path in [p for p in self.stored if p not in keep]:
            path.unlink(missing_ok=True)
            self.stored.remove(path)
        quota = self.server.limits.workdir_quota_bytes
        if quota is None:
            return
        used = folder_bytes(self.server.workdir)
        if used + total > quota:
            raise WireError(
                ErrorCode.QUOTA_EXCEEDED,
                f"model {name} has {total} bytes, and the target's work directory holds {used} of its "
                f"{quota} bytes (edgeai serve --workdir-quota-mb); upload a smaller model or ask the "
                "operator for more room",
            )

    def _write_chunk(self, frame: Frame, upload: _Upload, offset: int) -> None:
        conn = self.session.conn
        if frame.payload is not None:
            data = memoryview(frame.payload)[offset:]
            size = len(data)
        else:
            data = None
            size = conn.streaming
        if upload.received + size > upload.total:
            raise WireError(
                ErrorCode.BAD_PAYLOAD,
                f"MODEL {upload.name}: more bytes than the {upload.total} announced",
            )
        try:
            if data is not None:
                while data:
                    data = data[os.write(upload.fd, data) :]
            else:
                conn.copy_payload(upload.fd, size)
        except OSError as exc:
            raise WireError(
                ErrorCode.INTERNAL, f"cannot store the model in the work directory: {exc.strerror or exc}"
            ) from None
        upload.received += size

    def _abort_upload(self, rejecting: bool = False) -> None:
        upload = self.upload
        self.upload = _Upload() if rejecting else None
        if upload is None:
            return
        if upload.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(upload.fd)
            upload.fd = -1
        if upload.tmp is not None:
            upload.tmp.unlink(missing_ok=True)
            upload.tmp = None

    def _finish_upload(self, request_id: int) -> None:
        upload = self.upload
        assert upload is not None and upload.tmp is not None and self.spec is not None
        try:
            if upload.received != upload.total:
                raise WireError(
                    ErrorCode.BAD_PAYLOAD,
                    f"MODEL {upload.name}: got {upload.received} of the {upload.total} bytes announced",
                )
            os.close(upload.fd)
            upload.fd = -1
            declared: dict[str, tuple[int, str]] = self.spec["files"]
            companion = upload.name in declared
            if companion:
                self._check_digest(upload, declared[upload.name][1])
            self._check_allowed(upload)
            final = self.server.models_dir / upload.name
            if final.resolve().parent != self.server.models_dir.resolve():  # belt and braces after check_name
                raise WireError(ErrorCode.BAD_NAME, f"model name {upload.name!r} leaves the work directory")
            self._forget(final)  # a re-upload under the same name replaces the file
            os.replace(upload.tmp, final)
        except BaseException:
            self._abort_upload()
            raise
        upload.tmp = None
        self.upload = None
        self.stored.append(final)
        if companion:  # kept until the model file arrives; answered like a model, with no load time
            self.verified[upload.name] = final
            self.session.send(_OK, [msg.encode_two_u64(upload.total, 0)], request_id)
            return
        spec, doc = self.spec, self.spec["doc"]
        artifact = Artifact(
            final,
            spec["format"],
            spec["io"],
            producer=str(doc.get("producer", "")),
            versions=doc.get("versions") if isinstance(doc.get("versions"), dict) else {},
            metadata=doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {},
            files=tuple(declared),
            recorded={n: digest for n, (_, digest) in declared.items()},
        )
        self.stored.append(artifact.sidecar)
        try:
            _save_sidecar(artifact)
        except (TypeError, ValueError) as exc:  # metadata that is not JSON
            raise WireError(ErrorCode.BAD_PAYLOAD, f"IOSPEC: metadata cannot be stored: {exc}") from None
        total = upload.total + sum(size for size, _ in declared.values())
        self.session.inference.load(artifact, spec["params"], total, request_id)

    def _check_digest(self, upload: _Upload, expected: str) -> None:
        assert upload.tmp is not None
        digest = sha256_file(upload.tmp)
        if digest != expected:
            log.warning("%s: refused model file %s (sha256 %s, declared %s)", self.session.peer, upload.name,
                        digest, expected)  # fmt: skip
            raise WireError(
                ErrorCode.BAD_DIGEST,
                f"model file {upload.name} has sha256 {digest}, but IOSPEC declared {expected}; "
                "it was changed or corrupted on the way",
            )

    def _check_allowed(self, upload: _Upload) -> None:
        allowed = self.server.allowed_models
        if allowed is None:
            return
        assert upload.tmp is not None
        digest = sha256_file(upload.tmp)
        if digest not in allowed:  # companion files too: swapped weights are another model
            log.warning(
                "%s: refused model %s (sha256 %s is not allowed)", self.session.peer, upload.name, digest
            )
            raise WireError(
                ErrorCode.NOT_ALLOWED,
                f"model {upload.name} (sha256 {digest}) is not in this target's list of allowed models "
                "(edgeai serve --allowed-models); ask its operator to add it",
            )

    def _forget(self, path: Path) -> None:
        if path in self.stored:
            self.stored.remove(path)

    def close(self) -> None:
        """End of session: drop a partial upload and, unless the operator keeps them, the session's files."""
        self._abort_upload()
        if self.server.keep_models:
            return
        for path in self.stored:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        self.stored.clear()


__all__ = ["MAX_DIM", "PART_PREFIX", "ModelStore", "check_io_dims", "folder_bytes", "sha256_file"]
