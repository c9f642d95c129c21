"""Generic download and extraction machinery for datasets that live on the internet (standard library only).

:func:`fetch` streams a URL to ``<file>.part`` with ``urllib``, resumes an interrupted transfer with an HTTP
``Range`` request (and starts over when the server ignores it), verifies a checksum written ``"algo:hex"``
(``md5``, ``sha1``, ``sha256``, ...), and renames the file into place only when it is complete and verified;
a corrupt download is deleted. :func:`extract_tar` unpacks an archive after checking every member (no
absolute paths, no ``..``, no links leaving the target, no device files), with ``tarfile``'s ``data``
filter where Python has it, and leaves a marker so a second call does nothing.

Downloading is always the user's choice: datasets call :func:`fetch` only when their ``download`` parameter
is true, and otherwise raise a DatasetError saying how to opt in.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from edgeai_core.api import DatasetError, NullProgress, ParameterError, Progress
from edgeai_datasets import __version__

log = logging.getLogger(__name__)

#: Bytes read per step while streaming.
CHUNK_BYTES = 1 << 20
#: Seconds to wait for the server (connect and every read).
TIMEOUT_S = 60.0
#: Transfers tried before giving up (each retry resumes where the last one stopped).
ATTEMPTS = 5
#: Seconds before retry n (times n); tests set it to 0.
RETRY_DELAY_S = 1.0
USER_AGENT = f"edgeai-datasets/{__version__} (python urllib)"

_CHECKSUM = re.compile(r"^(?P<algo>[a-z0-9_]+):(?P<hex>[0-9a-fA-F]+)$")
_CONTENT_RANGE = re.compile(r"bytes\s+(?P<start>\d+)-(?P<end>\d+)/(?P<total>\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(?P<total>\d+)")


class _Retry(Exception):
    """A transfer failed in a way another attempt (resuming) may fix."""


def parse_checksum(text: str, field: str = "checksum") -> tuple[str, str]:
    """``"sha256:<hex>"`` -> ``("sha256", "<hex>")``; a malformed or unknown one is a ParameterError on ``field``."""
    match = _CHECKSUM.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ParameterError(field, f"must look like 'sha256:<hex>' or 'md5:<hex>', got {text!r}")
    algo, digest = match["algo"], match["hex"].lower()
    if algo not in hashlib.algorithms_available:
        raise ParameterError(field, f"unknown hash algorithm '{algo}' (use sha256 or md5)")
    expected_len = hashlib.new(algo).digest_size * 2
    if len(digest) != expected_len:
        raise ParameterError(field, f"a {algo} digest has {expected_len} hex digits, got {len(digest)}")
    return algo, digest


def checksums_for(
    given: Mapping[str, Any] | None, defaults: Mapping[str, str | None], field: str = "dataset.checksums"
) -> dict[str, str | None]:
    """The checksum per file: ``defaults`` unless the user's table is given (which then replaces them)."""
    if given is None:
        return dict(defaults)
    result: dict[str, str | None] = dict.fromkeys(defaults)
    for name, value in given.items():
        if name not in defaults:
            raise ParameterError(f"{field}.{name}", f"no such file; known: {', '.join(defaults)}")
        if value is not None:
            parse_checksum(value, f"{field}.{name}")
        result[name] = value
    return result


def file_digest(path: Path, algo: str) -> str:
    """The hex digest of a file, read in chunks."""
    h = hashlib.new(algo)
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            h.update(block)
    return h.hexdigest()


def _mismatch(path: Path, checksum: str | None) -> str | None:
    """``"expected ..., got ..."`` when ``path`` does not match ``checksum``; None when it does (or no checksum)."""
    if not checksum:
        return None
    algo, expected = parse_checksum(checksum)
    actual = file_digest(path, algo)
    return None if actual == expected else f"expected {algo}:{expected}, got {algo}:{actual}"


def verify(path: Path, checksum: str | None) -> None:
    """Raise DatasetError when ``path`` does not match ``checksum`` (nothing to check when it is None)."""
    problem = _mismatch(path, checksum)
    if problem:
        raise DatasetError(f"{path} is corrupt or not the expected file: {problem}; delete it and run again")


def fetch(
    url: str,
    target: Path,
    *,
    checksum: str | None = None,
    progress: Progress | None = None,
    timeout: float = TIMEOUT_S,
    attempts: int = ATTEMPTS,
) -> Path:
    """Download ``url`` to ``target`` (resuming ``target.part`` if a previous run left one) and verify it.

    Returns ``target``. A target that already exists is returned as is (call :func:`verify` to check it).
    Raises DatasetError on HTTP errors, after ``attempts`` failed transfers, or on a checksum mismatch; in
    the last case the corrupt file is deleted first.
    """
    if target.exists():
        return target
    progress = progress or NullProgress()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    log.info("downloading %s to %s", url, target)
    last: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            log.warning(
                "download of %s interrupted (%s); retrying, resuming at byte %d", url, last, _size(part)
            )
            time.sleep(RETRY_DELAY_S * attempt)
        try:
            _transfer(url, part, progress, timeout)
            break
        except _Retry as exc:
            last = exc
    else:
        raise DatasetError(
            f"download of {url} failed after {attempts} attempts ({last}); run again to resume from {part}"
        )
    problem = _mismatch(part, checksum)
    if problem:
        part.unlink(missing_ok=True)
        raise DatasetError(
            f"download of {url} is corrupt: {problem}; the file was deleted, run again to retry "
            "(or check the dataset's url and checksums parameters)"
        )
    os.replace(part, target)
    log.info("downloaded %s (%d bytes)", target, target.stat().st_size)
    return target


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _transfer(url: str, part: Path, progress: Progress, timeout: float) -> None:
    """One attempt: append to ``part`` from where it ends; raise _Retry when another attempt may help."""
    offset = _size(part)
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            unsatisfied = _UNSATISFIED_RANGE.search(exc.headers.get("Content-Range", "") or "")
            if unsatisfied and int(unsatisfied["total"]) == offset:
                return  # the previous attempt had already received everything
            part.unlink(missing_ok=True)
            raise _Retry(f"the server refused to resume at byte {offset}; starting over") from None
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise DatasetError(
            f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the dataset's url parameter"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Retry(f"cannot reach the server: {reason}") from None
    with response:
        total: int | None
        length = response.headers.get("Content-Length")
        if offset and response.status == 206:
            match = _CONTENT_RANGE.search(response.headers.get("Content-Range", "") or "")
            if not match or int(match["start"]) != offset:
                part.unlink(missing_ok=True)
                raise _Retry(f"the server answered the range request with {match and match.group(0)!r}")
            total = None if match["total"] == "*" else int(match["total"])
            mode = "ab"
            log.info("resuming %s at byte %d", url, offset)
        else:
            if offset:
                log.info("the server ignored the range request for %s; downloading from the start", url)
            offset, mode = 0, "wb"
            total = int(length) if length and length.isdigit() else None
        done = offset
        with part.open(mode) as fh:
            while True:
                try:
                    block = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retry(f"connection lost after {done} bytes: {exc}") from None
                if not block:
                    break
                try:
                    fh.write(block)
                except OSError as exc:  # a full disk is not something retrying fixes
                    raise DatasetError(f"cannot write {part}: {exc}; free some space and run again") from None
                done += len(block)
                progress.update(done, total, f"{part.name[: -len('.part')]} {done / 2**20:.1f} MiB")
    if total is not None and done < total:
        raise _Retry(f"connection closed after {done} of {total} bytes")
    if total is not None and done > total:
        part.unlink(missing_ok=True)
        raise _Retry(f"received {done} bytes but the server announced {total}; starting over")


# -- archives ---------------------------------------------------------------------------------------


def _unsafe(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` must not be extracted, or None when it is safe.

    Data set archives need regular files and folders only: links, devices and FIFOs are refused outright
    (link tricks such as nesting past PATH_MAX defeat path resolution, so links are never created at all).
    """
    name = member.name
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts or ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "path with '..'"
    if "\0" in name or (not _parts(name) and not member.isdir()):
        return "empty or NUL in the name"
    if member.issym():
        return f"symbolic link to {member.linkname!r}; data set archives need none"
    if member.islnk():
        return f"hard link to {member.linkname!r}; data set archives need none"
    if not (member.isfile() or member.isdir()):
        return "device, FIFO or other special file"
    return None


def _parts(name: str) -> list[str]:
    return [p for p in PurePosixPath(name).parts if p not in ("", ".")]


class _Folder:
    """Creates folders and files under one root without ever following a link: each path component is
    opened relative to its parent's descriptor with ``O_NOFOLLOW`` (lstat checks where the platform lacks
    ``dir_fd``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_fd = os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW")

    def _open_dir(self, parts: list[str]) -> int:
        fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            for part in parts:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _checked(self, parts: list[str]) -> Path:
        path = self.root
        for part in parts:
            path = path / part
            if path.is_symlink():
                raise OSError(f"{path} is a symbolic link")
        return path

    def mkdir(self, name: str) -> None:
        parts = _parts(name)
        if self.by_fd:
            os.close(self._open_dir(parts))
        else:
            self._checked(parts).mkdir(parents=True, exist_ok=True)

    def write(self, name: str, data: Any, mode: int, mtime: float) -> None:
        parts = _parts(name)
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        )
        mode = 0o755 if mode & 0o111 else 0o644  # no setuid, setgid or world-writable files
        if self.by_fd:
            parent = self._open_dir(parts[:-1])
            try:
                fd = os.open(parts[-1], flags, mode, dir_fd=parent)
            finally:
                os.close(parent)
        else:
            path = self._checked(parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, flags, mode)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
            if mtime and os.utime in os.supports_fd:
                os.utime(out.fileno(), (mtime, mtime))


def extraction_marker(archive: Path, dest: Path) -> Path:
    """The file whose presence says ``archive`` was fully extracted into ``dest``."""
    return dest / f".{archive.name}.extracted"


def extract_tar(archive: Path, dest: Path, *, progress: Progress | None = None) -> None:
    """Safely extract ``archive`` into ``dest``, once (a marker file records success).

    Only regular files and folders are extracted, written by edgeai itself (not ``tarfile.extract``, whose
    protection differs between Python releases) without following any link. Every member is checked before
    it is written; an unsafe one (a link, a device, an absolute name or a ``..`` component) stops the
    extraction with a DatasetError naming it, and no marker is written (members before it, all inside
    ``dest``, may remain).
    """
    dest.mkdir(parents=True, exist_ok=True)
    marker = extraction_marker(archive, dest)
    if marker.exists():
        return
    folder = _Folder(dest.resolve())
    progress = progress or NullProgress()
    count = 0
    log.info("extracting %s into %s", archive, dest)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:  # headers are read in order, so a .tar.gz is decompressed once
                reason = _unsafe(member)
                if reason:
                    raise DatasetError(
                        f"{archive}: refusing to extract member '{member.name}' ({reason}); the archive is "
                        "corrupt or malicious: delete it"
                    )
                if member.isdir():
                    folder.mkdir(member.name)
                else:
                    data = tar.extractfile(member)
                    assert data is not None  # a regular file
                    folder.write(member.name, data, member.mode, member.mtime)
                count += 1
                if count % 500 == 0:
                    progress.update(count, None, f"extracting {archive.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        reason = " ".join(str(exc).split())  # tarfile lists every method it tried on separate lines
        raise DatasetError(
            f"{archive}: cannot extract it ({reason}); delete it and run again "
            "(with download=true to fetch it again)"
        ) from None
    marker.write_text(
        json.dumps({"archive": archive.name, "size": archive.stat().st_size, "members": count}) + "\n",
        encoding="utf-8",
    )
    log.info("extracted %d members of %s", count, archive.name)


def extract_zip(archive: Path, dest: Path, *, progress: Progress | None = None) -> None:
    """Safely extract a ``.zip`` into ``dest``, once: the same rules and marker as :func:`extract_tar`.

    Symbolic links (Unix mode bits in the member's external attributes) are refused like the other unsafe
    members; files and folders are written by edgeai without following any link.
    """
    import stat
    import zipfile

    dest.mkdir(parents=True, exist_ok=True)
    marker = extraction_marker(archive, dest)
    if marker.exists():
        return
    folder = _Folder(dest.resolve())
    progress = progress or NullProgress()
    count = 0
    log.info("extracting %s into %s", archive, dest)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                mode = info.external_attr >> 16
                member = tarfile.TarInfo(info.filename)
                member.type = tarfile.DIRTYPE if info.is_dir() else tarfile.REGTYPE
                if stat.S_ISLNK(mode):
                    member.type, member.linkname = tarfile.SYMTYPE, "?"
                reason = _unsafe(member)
                if reason:
                    raise DatasetError(
                        f"{archive}: refusing to extract member '{info.filename}' ({reason}); the archive is "
                        "corrupt or malicious: delete it"
                    )
                if info.is_dir():
                    folder.mkdir(info.filename)
                else:
                    with bundle.open(info) as data:
                        folder.write(info.filename, data, mode & 0o777, 0.0)
                count += 1
                if count % 500 == 0:
                    progress.update(count, None, f"extracting {archive.name}")
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise DatasetError(
            f"{archive}: cannot extract it ({' '.join(str(exc).split())}); delete it and run again "
            "(with download=true to fetch it again)"
        ) from None
    marker.write_text(
        json.dumps({"archive": archive.name, "size": archive.stat().st_size, "members": count}) + "\n",
        encoding="utf-8",
    )
    log.info("extracted %d members of %s", count, archive.name)


def missing_data_error(
    dataset: str, root: Path, missing: list[str], everything: list[str], size: str, note: str = ""
) -> DatasetError:
    """The error for absent files: how to opt in to the download, or what to put where."""
    files = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    what = "no data" if len(missing) == len(everything) else f"{files} missing"
    return DatasetError(
        f"{dataset}: {what} in {root}; pass --set dataset.download=true ({size}) or put {files} there{note}"
    )


def join_url(base: str, name: str) -> str:
    """``base`` (with or without a trailing '/') + ``name``."""
    return base.rstrip("/") + "/" + name
