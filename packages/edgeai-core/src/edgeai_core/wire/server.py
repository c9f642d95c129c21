"""The target server behind ``edgeai serve``: one host at a time, one runtime, one work directory.

It loads only formats its runtime's record declares, writes only inside its work directory (model names
are plain file names, checked), never unpickles (tensors are raw bytes, control messages binary or JSON),
caps every size, times out idle hosts and answers every malformed frame with ERROR (closing the connection
when the byte stream can no longer be trusted) without ever stopping. A second host that connects while
one is being served gets a BUSY error and is closed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.artifacts import Artifact, IOSpec
from edgeai_core.components import Context, Protocol, Runtime, Stream
from edgeai_core.errors import ArtifactError, EdgeaiError
from edgeai_core.records import RuntimeRecord
from edgeai_core.wire import messages as msg
from edgeai_core.wire.auth import host_proof, new_nonce, target_proof, verify
from edgeai_core.wire.codec import TensorLayout, decode_tensors, encode_tensors
from edgeai_core.wire.connection import Connection, Frame, LinkError, LinkReset
from edgeai_core.wire.framing import (
    TYPE_NAMES,
    VERSION,
    ErrorCode,
    Flag,
    MessageType,
    WireError,
)

log = logging.getLogger(__name__)

_OK = int(MessageType.OK)
_ERROR = int(MessageType.ERROR)
_OUTPUT = int(MessageType.OUTPUT)
_INFER = int(MessageType.INFER)
_MORE = int(Flag.MORE)
_CONT = int(Flag.CONT)
_U64_PACK = msg._U64.pack
#: Payload limit before the host has said HELLO (and authenticated, where required).
PREAUTH_FRAME_BYTES = 4096
#: How long a host connecting while another is served waits for it to finish before it is told BUSY.
BUSY_GRACE_S = 0.5


def _software() -> str:
    from importlib import metadata

    try:
        return f"edgeai-core {metadata.version('edgeai-core')}"
    except metadata.PackageNotFoundError:
        return "edgeai-core"


@dataclass(frozen=True)
class ServerLimits:
    """Caps on what a host may send, and how long it may stay silent."""

    max_frame_bytes: int = 64 << 20
    max_model_bytes: int = 512 << 20
    idle_timeout_s: float = 300.0


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


class TargetServer:
    """Serves the wire protocol for one runtime on one transport.

    ``runtime_params`` are the serve-time parameters of the runtime (raw, validated here); a host may
    override non-path parameters per model in its IOSPEC message. ``token`` enables authentication.
    """

    def __init__(
        self,
        protocol: Protocol,
        runtime: RuntimeRecord,
        runtime_params: Mapping[str, Any] | None = None,
        *,
        workdir: Path,
        token: bytes | None = None,
        limits: ServerLimits | None = None,
        sample_interval_s: float = 0.05,
    ) -> None:
        self.protocol = protocol
        self.runtime_record = runtime
        self.runtime_params = dict(runtime_params or {})
        runtime.params.validate(self.runtime_params, "runtime")  # fail at start, not at the first upload
        self.workdir = Path(workdir)
        self.models_dir = self.workdir / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.limits = limits or ServerLimits()
        self.sample_interval_s = sample_interval_s
        self.software = _software()
        self._machine: dict[str, Any] | None = None
        self._free = threading.Condition()
        self._busy = False
        self._busy_since = ""
        self._incoming: queue.Queue[Stream | None] = queue.Queue()
        self._stopping = threading.Event()
        self.sessions = 0

    # -- lifecycle -------------------------------------------------------------------------------------

    def listen(self) -> dict[str, Any]:
        """Start listening; return the listening event (what ``edgeai serve`` prints)."""
        address = self.protocol.listen()
        return {
            "event": "listening",
            "protocol": self.protocol.record.name,
            **address,
            "runtime": self.runtime_record.name,
            "formats": list(self.runtime_record.formats),
            "auth": self.token is not None,
            "workdir": str(self.workdir),
            "pid": os.getpid(),
        }

    def serve(self, *, once: bool = False) -> None:
        """Serve hosts until :meth:`stop` (or, with ``once``, until the first session ends)."""
        if self.protocol.concurrent:
            thread = threading.Thread(target=self._accept_loop, name="edgeai-serve-accept", daemon=True)
            thread.start()
            try:
                while not self._stopping.is_set():
                    stream = self._incoming.get()
                    if stream is None:
                        break
                    try:
                        self._serve_stream(stream)
                    finally:
                        self._release()
                    if once:
                        break
            finally:
                self.stop()
        else:
            try:
                self._serve_line(once)
            finally:
                self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._incoming.put(None)
        self.protocol.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                stream = self.protocol.accept(None)
            except OSError as exc:
                if self._stopping.is_set():
                    return
                log.warning("accepting a connection failed: %s", exc)
                time.sleep(0.05)
                continue
            if self._claim(0.0):
                self._incoming.put(stream)
            else:
                threading.Thread(target=self._wait_or_reject, args=(stream,), daemon=True).start()

    def _claim(self, wait_s: float) -> bool:
        """Mark the server busy if it is free, waiting up to ``wait_s`` for the current session to end."""
        with self._free:
            if self._busy and wait_s > 0:
                self._free.wait_for(lambda: not self._busy, timeout=wait_s)
            if self._busy:
                return False
            self._busy = True
            self._busy_since = time.strftime("%H:%M:%S")
            return True

    def _release(self) -> None:
        with self._free:
            self._busy = False
            self._free.notify()

    def _wait_or_reject(self, stream: Stream) -> None:
        # a host that reconnects right after its session ended must not race the clean-up into BUSY
        if self._claim(BUSY_GRACE_S):
            self._incoming.put(stream)
        else:
            self._reject_busy(stream)

    def _reject_busy(self, stream: Stream) -> None:
        log.info("%s: refused, busy with another host", stream.describe())
        try:
            stream.settimeout(1.0)
            conn = Connection(stream, role="target", max_frame=PREAUTH_FRAME_BYTES)
            conn.send(
                _ERROR,
                [
                    msg.encode_error(
                        ErrorCode.BUSY,
                        f"target busy: it is serving another host since {self._busy_since}; "
                        "one host at a time, try again when that run has finished",
                    )
                ],
            )
        except (OSError, TimeoutError):
            pass
        _close_gracefully(stream)

    def _serve_stream(self, stream: Stream) -> None:
        self.sessions += 1
        conn = Connection(stream, role="target", max_frame=self.limits.max_frame_bytes)
        session = Session(self, conn, stream.describe())
        try:
            reason = session.run()
        finally:
            session.close()
        log.info("%s: session ended (%s) after %d inferences", stream.describe(), reason, session.inferences)
        if reason in ("closed",):
            stream.close()
        else:
            _close_gracefully(stream)

    def _serve_line(self, once: bool) -> None:
        """A serial line: one connection object for the life of the port, a session per HELLO."""
        stream = self.protocol.accept(None)
        conn = Connection(stream, role="target", max_frame=self.limits.max_frame_bytes)
        while not self._stopping.is_set():
            self.sessions += 1
            session = Session(self, conn, stream.describe())
            try:
                reason = session.run()
            finally:
                session.close()
            log.info(
                "%s: session ended (%s) after %d inferences", stream.describe(), reason, session.inferences
            )
            if reason == "closed":
                break
            if once and reason != "reset":
                break

    def machine(self) -> dict[str, Any]:
        if self._machine is None:
            from edgeai_core.measurement import machine_facts

            self._machine = machine_facts()
        return self._machine


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


def _close_gracefully(stream: Stream) -> None:
    """Half-close, give the peer a moment to read our last frame and close, then close: a plain close
    with unread input would reset the connection and could destroy the ERROR just sent."""
    shutdown = getattr(stream, "shutdown_write", None)
    if shutdown is not None:
        shutdown()
        try:
            stream.settimeout(0.2)
            scratch = memoryview(bytearray(65536))
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline and stream.recv_into(scratch):
                pass
        except (OSError, TimeoutError):
            pass
    stream.close()


class Session:
    """One host's session: handshake, optional authentication, then requests until it leaves."""

    def __init__(self, server: TargetServer, conn: Connection, peer: str) -> None:
        self.server = server
        self.conn = conn
        self.peer = peer
        self.greeted = False
        self.authed = server.token is None
        self.host_nonce = b""
        self.target_nonce = b""
        self.spec: dict[str, Any] | None = None
        self.runtime: Runtime | None = None
        self.artifact: Artifact | None = None
        self._checks: list[tuple[str, tuple[np.dtype, ...], int, tuple[tuple[int, int], ...]]] = []
        self.inputs: list[np.ndarray] | None = None
        self.outputs: list[np.ndarray] | None = None
        self.last_ns = 0
        self.inferences = 0
        self.total_ns = 0
        self.upload: _Upload | None = None
        self.sampler: Any = None
        self._layout: TensorLayout | None = None
        self._update_limits()
        self.handlers: dict[int, Callable[[Frame], bool | None]] = {
            MessageType.HELLO: self.on_hello,
            MessageType.AUTH: self.on_auth,
            MessageType.IOSPEC: self.on_iospec,
            MessageType.MODEL: self.on_model,
            MessageType.DATA: self.on_data,
            MessageType.PROCESS: self.on_process,
            MessageType.OUTPUT: self.on_output,
            MessageType.INFER: self.on_infer,
            MessageType.STATS: self.on_stats,
            MessageType.BYE: self.on_bye,
        }

    def _update_limits(self) -> None:
        """Payload limits for the session's state: tight until HELLO (and AUTH, where required)."""
        conn, limits = self.conn, self.server.limits
        if not (self.greeted and self.authed):
            conn.max_frame, conn.limits = PREAUTH_FRAME_BYTES, {}
            return
        conn.max_frame = limits.max_frame_bytes
        conn.limits = {int(MessageType.MODEL): limits.max_model_bytes + 512} if conn.reliable else {}

    # -- the loop --------------------------------------------------------------------------------------

    def run(self) -> str:
        """Serve requests until the host leaves; return why the session ended."""
        conn = self.conn
        idle = self.server.limits.idle_timeout_s
        # on a serial line nobody may be there yet: wait for HELLO as long as it takes
        conn.set_timeout(idle if conn.reliable else None)
        while True:
            try:
                frame = conn.recv()
            except TimeoutError:
                if conn.reliable:
                    self.reply_error(
                        0, ErrorCode.IDLE_TIMEOUT, f"no message for {idle:g} s; closing the connection"
                    )
                return "idle"
            except WireError as exc:
                self.reply_error(0, exc.code, str(exc))
                if exc.fatal:
                    return "bad frame"
                continue
            except LinkReset:
                return "reset"
            except (ConnectionError, OSError):
                return "closed"
            rid = frame.request_id
            try:
                if frame.type == _INFER and self.runtime is not None:  # the benchmark's hot path
                    self.on_infer(frame)
                    continue
                keep = self.handle(frame)
            except WireError as exc:
                self.reply_error(rid, exc.code, str(exc))
                if exc.fatal:
                    return "refused"
                keep = True
            except LinkReset:
                return "reset"
            except TimeoutError:  # a burst of INFERs waited in vain for the next one
                if conn.reliable:
                    self.reply_error(
                        0, ErrorCode.IDLE_TIMEOUT, f"no message for {idle:g} s; closing the connection"
                    )
                return "idle"
            except ConnectionError:
                return "closed"
            except Exception as exc:  # a bug or a runtime's surprise: report it, keep serving
                log.exception("%s: %s failed", self.peer, frame.header.type_name)
                self.reply_error(rid, ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
                keep = True
            finally:
                if conn.streaming:
                    with contextlib.suppress(WireError, ConnectionError, OSError):
                        conn.skip_payload()
            if keep is False:
                return "bye"
            if self.greeted and not conn.reliable:
                conn.set_timeout(idle)

    def handle(self, frame: Frame) -> bool | None:
        type_ = frame.header.type
        handler = self.handlers.get(type_)
        if handler is None:
            if type_ in TYPE_NAMES:
                raise WireError(
                    ErrorCode.UNEXPECTED, f"a target does not accept {TYPE_NAMES[type_]} messages from a host"
                )
            raise WireError(ErrorCode.UNKNOWN_TYPE, f"unknown message type 0x{type_:02x}")
        if type_ != MessageType.HELLO:
            if not self.greeted:
                raise WireError(ErrorCode.UNEXPECTED, "send HELLO first")
            if not self.authed and type_ != MessageType.AUTH:
                raise WireError(
                    ErrorCode.AUTH_REQUIRED,
                    "this target requires authentication; give the host its token (target.token_file)",
                )
        return handler(frame)

    def reply_error(self, request_id: int, code: int, message: str) -> None:
        with contextlib.suppress(OSError, TimeoutError, LinkError, LinkReset):
            self.conn.send(_ERROR, [msg.encode_error(code, message)], request_id=request_id)

    def send(self, type: int, parts: list[Any], request_id: int) -> None:
        self.conn.send(type, parts, request_id=request_id)

    def close(self) -> None:
        self._abort_upload()
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None
        self._close_runtime()

    def _close_runtime(self) -> None:
        if self.runtime is not None:
            try:
                self.runtime.close()
            except Exception:
                log.exception("closing runtime %s failed", self.server.runtime_record.name)
            self.runtime = None

    # -- handshake -------------------------------------------------------------------------------------

    def on_hello(self, frame: Frame) -> None:
        if self.greeted:
            if not self.conn.reliable:  # a host restarted on the line: this HELLO begins a new session
                self.conn.requeue(frame)
                raise LinkReset("a host started a new session (HELLO)")
            raise WireError(ErrorCode.UNEXPECTED, "HELLO was already exchanged on this connection")
        hello = msg.Hello.decode(frame.payload or b"")
        if not hello.min_version <= VERSION <= hello.max_version:
            raise WireError(
                ErrorCode.UNSUPPORTED_VERSION,
                f"the host speaks protocol versions {hello.min_version}-{hello.max_version}, "
                f"this target speaks {VERSION}",
                fatal=True,
            )
        self.host_nonce = hello.nonce
        self.target_nonce = new_nonce()
        record, limits = self.server.runtime_record, self.server.limits
        reply = msg.HelloReply(
            nonce=self.target_nonce,
            runtime=record.name,
            formats=tuple(record.formats),
            max_frame_bytes=limits.max_frame_bytes,
            max_model_bytes=limits.max_model_bytes,
            auth_required=self.server.token is not None,
            software=self.server.software,
        )
        self.greeted = True
        self._update_limits()
        self.send(MessageType.HELLO, [reply.encode()], frame.header.request_id)
        log.info("%s: HELLO from %s", self.peer, hello.software or "a host")

    def on_auth(self, frame: Frame) -> None:
        token = self.server.token
        if token is None:
            raise WireError(ErrorCode.UNEXPECTED, "this target requires no authentication")
        if self.authed:
            raise WireError(ErrorCode.UNEXPECTED, "already authenticated")
        proof = frame.payload or b""
        if len(proof) != msg.MAC_SIZE or not verify(
            host_proof(token, self.target_nonce, self.host_nonce), proof
        ):
            log.warning("%s: authentication failed", self.peer)
            time.sleep(0.05)  # slows down guessing
            raise WireError(
                ErrorCode.AUTH_FAILED,
                "authentication failed: the host's token does not match this target's",
                fatal=True,
            )
        self.authed = True
        self._update_limits()
        self.send(_OK, [target_proof(token, self.host_nonce, self.target_nonce)], frame.header.request_id)

    def on_bye(self, frame: Frame) -> bool:
        self.send(_OK, [], frame.header.request_id)
        return False

    # -- model ---------------------------------------------------------------------------------------

    def on_iospec(self, frame: Frame) -> None:
        payload = frame.payload or b""
        rid = frame.header.request_id
        if not len(payload):
            if self.artifact is None:
                raise WireError(ErrorCode.NO_MODEL, "no model is loaded; upload one (IOSPEC, then MODEL)")
            self.send(MessageType.IOSPEC, [msg.encode_json(self.artifact.to_json())], rid)
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
        params = self._runtime_params(doc.get("runtime"))
        self.spec = {"format": fmt, "io": io, "params": params, "doc": doc}
        self.send(_OK, [], rid)

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
            known = {p.name: p for p in record.params}
            for key in params:
                param = known.get(str(key).replace("-", "_"))
                if param is not None and param.type == "path":
                    raise WireError(
                        ErrorCode.BAD_PAYLOAD,
                        f"runtime.{key}: path parameters are the target's to set "
                        f"(edgeai serve --set runtime.{key}=...), not the host's",
                    )
            merged.update(params)
        try:
            return record.params.validate(merged, "runtime")
        except EdgeaiError as exc:
            raise WireError(ErrorCode.BAD_PAYLOAD, str(exc)) from None

    def on_model(self, frame: Frame) -> None:
        header = frame.header
        more = bool(header.flags & _MORE)
        if header.flags & _CONT:
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
                self._finish_upload(header.request_id)
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
            self._finish_upload(header.request_id)

    def _begin_upload(self, frame: Frame) -> tuple[_Upload, int]:
        if frame.payload is not None:
            total, name, offset = msg.decode_model_head(frame.payload)
        else:  # streamed: read the head off the stream
            first = self.conn.read_payload(9)
            name_bytes = self.conn.read_payload(first[8])
            total, name, _ = msg.decode_model_head(first + name_bytes)
            offset = 0
        msg.check_name(name)
        if self.spec is None:
            raise WireError(ErrorCode.UNEXPECTED, "send IOSPEC (the model's format and IO spec) before MODEL")
        limit = self.server.limits.max_model_bytes
        if total > limit:
            raise WireError(
                ErrorCode.MODEL_TOO_LARGE,
                f"model {name} has {total} bytes; this target accepts at most {limit} bytes "
                f"({limit / 2**20:g} MiB, edgeai serve --max-model-mb)",
            )
        tmp = self.server.models_dir / f".upload-{secrets.token_hex(8)}.part"
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        )
        try:
            fd = os.open(tmp, flags, 0o600)
        except OSError as exc:
            raise WireError(
                ErrorCode.INTERNAL, f"cannot create a file in the work directory: {exc}"
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

    def _write_chunk(self, frame: Frame, upload: _Upload, offset: int) -> None:
        if frame.payload is not None:
            data = memoryview(frame.payload)[offset:]
            size = len(data)
        else:
            data = None
            size = self.conn.streaming
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
                self.conn.copy_payload(upload.fd, size)
        except OSError as exc:
            raise WireError(
                ErrorCode.INTERNAL, f"cannot store the model in the work directory: {exc.strerror or exc}"
            ) from None
        upload.received += size

    def _abort_upload(self, rejecting: bool = False) -> None:
        upload = self.upload
        self.upload = _Upload() if rejecting else None
        if upload is None or upload.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.close(upload.fd)
        if upload.tmp is not None:
            upload.tmp.unlink(missing_ok=True)

    def _finish_upload(self, request_id: int) -> None:
        upload = self.upload
        assert upload is not None and upload.tmp is not None and self.spec is not None
        if upload.received != upload.total:
            self._abort_upload()
            raise WireError(
                ErrorCode.BAD_PAYLOAD,
                f"MODEL {upload.name}: got {upload.received} of the {upload.total} bytes announced",
            )
        os.close(upload.fd)
        upload.fd = -1
        final = self.server.models_dir / upload.name
        if final.resolve().parent != self.server.models_dir.resolve():  # belt and braces after check_name
            self._abort_upload()
            raise WireError(ErrorCode.BAD_NAME, f"model name {upload.name!r} leaves the work directory")
        os.replace(upload.tmp, final)
        self.upload = None
        spec, doc = self.spec, self.spec["doc"]
        artifact = Artifact(
            final,
            spec["format"],
            spec["io"],
            producer=str(doc.get("producer", "")),
            versions=doc.get("versions") if isinstance(doc.get("versions"), dict) else {},
            metadata=doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {},
        )
        try:
            _save_sidecar(artifact)
        except (TypeError, ValueError) as exc:  # metadata that is not JSON
            raise WireError(ErrorCode.BAD_PAYLOAD, f"IOSPEC: metadata cannot be stored: {exc}") from None
        self._load(artifact, spec["params"], upload, request_id)

    def _load(self, artifact: Artifact, params: dict[str, Any], upload: _Upload, request_id: int) -> None:
        self._close_runtime()
        self.artifact = None
        self.inputs = self.outputs = None
        record = self.server.runtime_record
        started = time.perf_counter_ns()
        try:
            context = Context(workdir=self.server.workdir / "runtime", seed=0)
            context.workdir.mkdir(parents=True, exist_ok=True)
            runtime = record.load()(record=record, params=params, context=context)
            runtime.load(artifact)
        except Exception as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"runtime {record.name} could not load {artifact.path.name}: {exc}"
            ) from None
        load_ns = time.perf_counter_ns() - started
        self.runtime = runtime
        self.artifact = artifact
        self._layout = None
        # A quantized input (scale in the IO spec) also takes float32: the runtime quantizes it, as it does
        # locally, so a host sends the same data to a local or a remote runtime.
        self._checks = [
            (
                spec.name,
                (np.dtype(spec.dtype),) + ((np.dtype("float32"),) if spec.scale is not None else ()),
                len(spec.shape),
                tuple((i, d) for i, d in enumerate(spec.shape) if isinstance(d, int) and d >= 0),
            )
            for spec in artifact.io.inputs
        ]
        log.info(
            "%s: loaded %s (%d bytes, %s) in %.1f ms",
            self.peer,
            artifact.path.name,
            upload.total,
            artifact.format,
            load_ns / 1e6,
        )
        self.send(_OK, [msg.encode_two_u64(upload.total, load_ns)], request_id)

    # -- inference -----------------------------------------------------------------------------------

    def _check_inputs(self, arrays: list[np.ndarray]) -> None:
        checks = self._checks
        if len(arrays) != len(checks):
            names = ", ".join(c[0] for c in checks)
            raise WireError(
                ErrorCode.BAD_PAYLOAD, f"the model takes {len(checks)} input(s) ({names}), got {len(arrays)}"
            )
        for array, (name, dtypes, ndim, dims) in zip(arrays, checks, strict=True):
            shape = array.shape
            if array.dtype not in dtypes or len(shape) != ndim or any(shape[i] != d for i, d in dims):
                raise WireError(
                    ErrorCode.BAD_PAYLOAD,
                    f"input '{name}' must be {' or '.join(d.name for d in dtypes)} with {ndim} dimensions "
                    f"{dict(dims) or ''}, got {array.dtype.name} {tuple(shape)}",
                )

    def _require_model(self) -> Runtime:
        if self.runtime is None:
            raise WireError(ErrorCode.NO_MODEL, "no model is loaded; upload one (IOSPEC, then MODEL)")
        return self.runtime

    def _run(self, runtime: Runtime, inputs: list[np.ndarray]) -> list[np.ndarray]:
        clock = time.perf_counter_ns
        try:
            started = clock()
            outputs = runtime.infer(inputs)
            self.last_ns = clock() - started
        except Exception as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"inference failed: {type(exc).__name__}: {exc}"
            ) from None
        self.inferences += 1
        self.total_ns += self.last_ns
        return outputs

    def _send_outputs(self, outputs: list[np.ndarray], request_id: int) -> None:
        try:
            parts = encode_tensors(outputs)
        except (ValueError, TypeError) as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"the runtime's outputs cannot be sent: {exc}"
            ) from None
        self.conn.send(_OUTPUT, [msg.encode_u64(self.last_ns), *parts], request_id=request_id)

    def on_infer(self, frame: Frame) -> None:
        runtime = self.runtime
        if runtime is None:
            runtime = self._require_model()
        payload: Any = frame.payload
        layout = self._layout
        single = layout.single if layout is not None else None
        if (  # the same single-tensor layout as the last request: one comparison, one view
            single is not None
            and len(payload) == layout.length  # type: ignore[union-attr]
            and payload[: layout.head_end] == layout.head  # type: ignore[union-attr]
        ):
            inputs = [np.frombuffer(payload, single[0], single[1], single[2]).reshape(single[3])]
        elif layout is not None and layout.matches(payload):
            inputs = layout.arrays(payload)
        else:  # a new layout: parse and check it in full, then remember it
            inputs = decode_tensors(payload or b"")
            self._check_inputs(inputs)
            self._layout = TensorLayout(payload or b"", inputs)
        clock = time.perf_counter_ns
        try:
            started = clock()
            outputs = runtime.infer(inputs)
            elapsed = clock() - started
        except Exception as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"inference failed: {type(exc).__name__}: {exc}"
            ) from None
        try:
            parts = encode_tensors(outputs)
        except (ValueError, TypeError) as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"the runtime's outputs cannot be sent: {exc}"
            ) from None
        parts[0] = _U64_PACK(elapsed) + parts[0]  # the first part is always the (small) list header
        self.conn.send(_OUTPUT, parts, request_id=frame.request_id)
        self.last_ns = elapsed  # bookkeeping after the reply: the host is waiting for it
        self.inferences += 1
        self.total_ns += elapsed
        layout = self._layout
        if layout is not None and layout.single is not None and self.conn.reliable:
            self._burst(runtime, layout)

    def _burst(self, runtime: Runtime, layout: TensorLayout) -> None:
        """Serve the INFERs that follow with the same input layout through :meth:`Connection.burst`.

        A runtime that keeps returning one array of the same dtype and shape gets its reply's tensor headers
        from a cache: each reply is then one small prefix plus the array's own memory.
        """
        assert layout.single is not None
        dtype, count, offset, shape = layout.single
        frombuffer, clock, send, ndarray = np.frombuffer, time.perf_counter_ns, self.conn.send, np.ndarray
        cached: list[Any] = [None, b"", [], 0]  # (dtype, shape) of the last output, prefix, tail, length

        def handle(request_id: int, payload: memoryview) -> None:
            try:
                inputs = [frombuffer(payload, dtype, count, offset).reshape(shape)]
                started = clock()  # the target's time is the runtime's infer() alone, as everywhere
                outputs = runtime.infer(inputs)
                elapsed = clock() - started
                out = outputs[0] if len(outputs) == 1 else None
                if (
                    type(out) is ndarray
                    and out.ndim
                    and out.flags.c_contiguous
                    and (out.dtype, out.shape) == cached[0]
                ):
                    parts = [_U64_PACK(elapsed) + cached[1], out.data.cast("B"), *cached[2]]
                    length = cached[3]
                else:
                    parts = encode_tensors(outputs)
                    length = 8 + sum(len(p) for p in parts)
                    if type(out) is ndarray and out.ndim and out.flags.c_contiguous and len(parts) >= 2:
                        cached[:] = [(out.dtype, out.shape), parts[0], parts[2:], length]
                    parts[0] = _U64_PACK(elapsed) + parts[0]
            except Exception as exc:
                self.reply_error(
                    request_id, ErrorCode.RUNTIME_FAILURE, f"inference failed: {type(exc).__name__}: {exc}"
                )
                return
            send(_OUTPUT, parts, request_id=request_id, length=length)
            self.last_ns = elapsed
            self.inferences += 1
            self.total_ns += elapsed

        self.conn.burst(_INFER, layout.length, layout.head, handle)

    def on_data(self, frame: Frame) -> None:
        self._require_model()
        inputs = decode_tensors(frame.payload or b"", copy=True)
        self._check_inputs(inputs)
        self.inputs = inputs
        self.send(_OK, [], frame.header.request_id)

    def on_process(self, frame: Frame) -> None:
        runtime = self._require_model()
        if self.inputs is None:
            raise WireError(ErrorCode.UNEXPECTED, "PROCESS before DATA: send the inputs first")
        rid = frame.header.request_id
        self.send(_OK, [], rid)  # inference starts now
        self.outputs = self._run(runtime, self.inputs)
        self.send(_OK, [msg.encode_u64(self.last_ns)], rid)  # and has ended

    def on_output(self, frame: Frame) -> None:
        if len(frame.payload or b""):
            raise WireError(ErrorCode.BAD_PAYLOAD, "OUTPUT requests carry no payload")
        if self.outputs is None:
            raise WireError(ErrorCode.UNEXPECTED, "OUTPUT before PROCESS: nothing was computed yet")
        self._send_outputs(self.outputs, frame.header.request_id)

    # -- statistics ----------------------------------------------------------------------------------

    def on_stats(self, frame: Frame) -> None:
        action, interval_us = msg.decode_stats_request(frame.payload or b"")
        resources = None
        if action == msg.STATS_START:
            if self.sampler is not None:
                resources = self.sampler.stop()
            from edgeai_core.resources import ResourceSampler

            interval = interval_us / 1e6 if interval_us else self.server.sample_interval_s
            self.sampler = ResourceSampler(interval_s=max(interval, msg.MIN_SAMPLE_INTERVAL_S)).start()
        elif action == msg.STATS_STOP:
            if self.sampler is not None:
                resources = self.sampler.stop()
                self.sampler = None
        elif self.sampler is not None:
            resources = self.sampler.to_json()
        record = self.server.runtime_record
        doc = {
            "protocol_version": VERSION,
            "software": self.server.software,
            "runtime": record.name,
            "formats": list(record.formats),
            "versions": self.runtime.versions() if self.runtime is not None else {},
            "model": None
            if self.artifact is None
            else {
                "file": self.artifact.path.name,
                "format": self.artifact.format,
                "size_bytes": self.artifact.size_bytes,
            },
            "inferences": self.inferences,
            "inference_ns_total": self.total_ns,
            "machine": self.server.machine(),
            "pid": os.getpid(),
            "resources": resources,
        }
        self.send(MessageType.STATS, [msg.encode_json(doc)], frame.header.request_id)


__all__ = ["PREAUTH_FRAME_BYTES", "ServerLimits", "Session", "TargetServer"]
