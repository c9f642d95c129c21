"""The target server behind ``edgeai serve``: one host at a time, one runtime, one work directory.

It loads only formats its runtime's record declares, writes only inside its work directory (model names
are plain file names, checked), never unpickles (tensors are raw bytes, control messages binary or JSON),
caps every size and every wait, and answers every malformed frame with ERROR (closing the connection
when the byte stream can no longer be trusted) without ever stopping. A second host that connects while
one is being served gets a BUSY error and is closed; while the current connection has not finished its
handshake, the newcomer waits for that handshake's deadline instead, so a client that never authenticates
cannot keep the slot from a real host.

What a host may do is the operator's decision, enforced here for every embedding (not only the CLI):

- a runtime whose artifacts are native code (``RuntimeRecord.native_code``: TVM) runs only with
  ``allow_native_code``, and then never on a non-loopback address without a token;
- any other non-loopback address needs a token unless ``allow_remote`` is given;
- a host sets only the runtime parameters declared host-settable;
- with ``allowed_models`` only artifacts whose SHA-256 is listed are loaded.

The session itself (handshake, uploads, inference, statistics) lives in :mod:`edgeai_core.wire.session`.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeai_core.components import Protocol, Stream
from edgeai_core.control import allowed_cpus
from edgeai_core.errors import UsageError
from edgeai_core.records import Registration, RuntimeRecord
from edgeai_core.wire import messages as msg
from edgeai_core.wire.connection import Connection
from edgeai_core.wire.framing import ErrorCode, MessageType
from edgeai_core.wire.session import PREAUTH_FRAME_BYTES, Session
from edgeai_core.wire.uploads import PART_PREFIX

log = logging.getLogger(__name__)
#: One line per host connection and disconnection (``edgeai serve`` shows them at INFO level).
connections = logging.getLogger("edgeai_core.wire.connections")
#: How a session's end reads in the disconnection line.
OUTCOMES = {"bye": "ok", "closed": "closed by the host"}


def log_session_end(peer: str, session: Session, reason: str, started: float) -> None:
    """``127.0.0.1:5123 disconnected: ok (bye) after 2.3 s, 1203 requests, 1200 inferences``."""
    outcome = OUTCOMES.get(reason, "ended")
    connections.info(
        "%s disconnected: %s (%s) after %.1f s, %d requests, %d inferences",
        peer,
        outcome,
        reason,
        time.monotonic() - started,
        session.requests,
        session.inferences,
    )


_ERROR = int(MessageType.ERROR)
#: How long a host connecting while another is served waits for it to finish before it is told BUSY.
BUSY_GRACE_S = 0.5
#: Connections kept waiting for the slot at once; more are told BUSY at once.
MAX_WAITING = 16


def _software() -> str:
    from importlib import metadata

    try:
        return f"edgeai-core {metadata.version('edgeai-core')}"
    except metadata.PackageNotFoundError:
        return "edgeai-core"


@dataclass(frozen=True)
class ServerLimits:
    """Caps on what a host may send, and how long it may take.

    ``handshake_timeout_s``: HELLO (and AUTH where a token is set) complete within this, counted from the
    connection. ``min_rate_bytes_s`` and ``frame_grace_s``: a frame that has begun must arrive completely
    within ``frame_grace_s + size / min_rate_bytes_s`` (byte streams). ``idle_timeout_s``: the longest
    silence between frames. ``workdir_quota_bytes``: the most the work directory may hold (None: twice
    ``max_model_bytes``). ``max_inflight``: the most requests a host may keep in flight (pipelining); a host
    found with more is answered TOO_MANY_REQUESTS and disconnected.
    """

    max_frame_bytes: int = 64 << 20
    max_model_bytes: int = 512 << 20
    idle_timeout_s: float = 300.0
    handshake_timeout_s: float = 5.0
    min_rate_bytes_s: float = 32 << 10
    frame_grace_s: float = 2.0
    workdir_quota_bytes: int | None = None
    max_inflight: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.max_inflight <= 0xFFFF:
            raise ValueError(f"max_inflight must be between 1 and 65535, got {self.max_inflight}")
        if self.workdir_quota_bytes is None:
            object.__setattr__(self, "workdir_quota_bytes", 2 * self.max_model_bytes)


def check_exposure(
    record: RuntimeRecord,
    address: str | None,
    *,
    token: bytes | None,
    allow_remote: bool,
    allow_native_code: bool,
) -> None:
    """Refuse a configuration that would let more hosts do more than the operator allowed.

    ``address`` is the address the server binds (None: not a network transport, e.g. a serial line).
    """
    if record.native_code and not allow_native_code:
        raise UsageError(
            f"runtime {record.name} loads models as native code: a host that can upload a model runs its "
            "own code in this server; start it with --allow-native-code if that is what you want "
            "(see docs/security.md)"
        )
    if address is None or token is not None:
        return
    from edgeai_core.transports.tcp import is_loopback

    if is_loopback(address):
        return
    if record.native_code:
        raise UsageError(
            f"--host {address} is not a loopback address and runtime {record.name} runs native code: "
            "give --token-file (--allow-remote is not enough for native code)"
        )
    if not allow_remote:
        raise UsageError(
            f"--host {address} is not a loopback address: anyone who can reach it could run models "
            "here; give --token-file (recommended) or --allow-remote"
        )


def read_allowed_models(path: Path) -> frozenset[str]:
    """SHA-256 digests, one per line (``sha256sum`` output works: the first field of each line is read;
    ``#`` starts a comment)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--allowed-models {path}: cannot read it ({exc.strerror or exc})") from None
    digests = set()
    for number, line in enumerate(text.splitlines(), 1):
        field = line.split("#", 1)[0].strip().split(maxsplit=1)
        if not field:
            continue
        digest = field[0].lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise UsageError(
                f"--allowed-models {path}, line {number}: {digest[:70]!r} is not a SHA-256 digest "
                "(64 hex digits, as `sha256sum model.onnx` prints)"
            )
        digests.add(digest)
    return frozenset(digests)


class TargetServer:
    """Serves the wire protocol for one runtime on one transport.

    ``runtime_params`` are the operator's parameters of the runtime (raw, validated here); a host may
    override the host-settable ones per model in its IOSPEC message. ``token`` enables authentication.
    ``allow_remote``, ``allow_native_code`` and ``allowed_models`` are the operator's permissions (see the
    module's docstring); ``keep_models`` keeps a session's uploads after it ends.
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
        allow_remote: bool = False,
        allow_native_code: bool = False,
        allowed_models: Iterable[str] | None = None,
        keep_models: bool = False,
        probes: Sequence[Registration] = (),
    ) -> None:
        address = protocol.params.get("host")  # network transports bind an address; a serial line has none
        check_exposure(
            runtime,
            None if address is None else str(address),
            token=token,
            allow_remote=allow_remote,
            allow_native_code=allow_native_code,
        )
        self.protocol = protocol
        self.runtime_record = runtime
        self.runtime_params = dict(runtime_params or {})
        runtime.params.validate(self.runtime_params, "runtime")  # fail at start, not at the first upload
        self.workdir = Path(workdir)
        self.models_dir = self.workdir / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.models_dir.glob(f"{PART_PREFIX}*"):  # left by a server that was killed
            stale.unlink(missing_ok=True)
        self.allowed_models = None if allowed_models is None else frozenset(d.lower() for d in allowed_models)
        self.keep_models = keep_models
        self.token = token
        self.limits = limits or ServerLimits()
        self.sample_interval_s = sample_interval_s
        #: the CPUs a host may pin the runtime to (STATS START): those the operator started the server on
        self.allowed_cpus = allowed_cpus()
        #: resource probes (GPU, power) started with each STATS window, as on a host
        self.probe_records = tuple(probes)
        self.software = _software()
        self._machine: dict[str, Any] | None = None
        self._free = threading.Condition()
        self._busy = False
        self._busy_since = ""
        self._handshake_until = 0.0  # while the current connection is still in its handshake
        self._waiting = 0
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
                continue
            with self._free:
                crowded = self._waiting >= MAX_WAITING
                if not crowded:
                    self._waiting += 1
            if crowded:
                threading.Thread(target=self._reject_busy, args=(stream,), daemon=True).start()
            else:
                threading.Thread(target=self._wait_or_reject, args=(stream,), daemon=True).start()

    def _claim(self, wait_s: float) -> bool:
        """Mark the server busy if it is free, waiting up to ``wait_s`` for the current session to end, or
        until the current connection's handshake deadline has passed where it has not finished it yet."""
        with self._free:
            end = time.monotonic() + wait_s
            while self._busy:
                until = max(end, self._handshake_until + BUSY_GRACE_S if self._handshake_until else 0.0)
                left = until - time.monotonic()
                if left <= 0:
                    return False
                self._free.wait(left)
            self._busy = True
            self._busy_since = time.strftime("%H:%M:%S")
            self._handshake_until = time.monotonic() + self.limits.handshake_timeout_s
            return True

    def session_admitted(self) -> None:
        """The current connection finished its handshake: hosts waiting for the slot are told BUSY."""
        with self._free:
            self._handshake_until = 0.0
            self._free.notify_all()

    def _release(self) -> None:
        with self._free:
            self._busy = False
            self._handshake_until = 0.0
            self._free.notify_all()

    def _wait_or_reject(self, stream: Stream) -> None:
        # a host that reconnects right after its session ended must not race the clean-up into BUSY
        try:
            if self._claim(BUSY_GRACE_S):
                self._incoming.put(stream)
            else:
                self._reject_busy(stream)
        finally:
            with self._free:
                self._waiting -= 1

    def _reject_busy(self, stream: Stream) -> None:
        connections.info("%s refused: busy with another host", stream.describe())
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
        peer, started = stream.describe(), time.monotonic()
        connections.info("%s connected", peer)
        conn = self._connection(stream)
        session = Session(self, conn, peer)
        reason = "failed"
        try:
            reason = session.run()
        finally:
            session.close()
            log_session_end(peer, session, reason, started)
        if reason in ("closed",):
            stream.close()
        else:
            _close_gracefully(stream)

    def _serve_line(self, once: bool) -> None:
        """A serial line: one connection object for the life of the port, a session per HELLO."""
        stream = self.protocol.accept(None)
        conn = self._connection(stream)
        while not self._stopping.is_set():
            self.sessions += 1
            peer, started = stream.describe(), time.monotonic()
            connections.info("%s: waiting for a host", peer)
            session = Session(self, conn, peer)
            reason = "failed"
            try:
                reason = session.run()
            finally:
                session.close()
                log_session_end(peer, session, reason, started)
            if reason == "closed":
                break
            if once and reason != "reset":
                break

    def _connection(self, stream: Stream) -> Connection:
        conn = Connection(stream, role="target", max_frame=self.limits.max_frame_bytes)
        if conn.reliable:  # an unreliable link paces its frames itself (acknowledgements, retries)
            conn.min_rate = self.limits.min_rate_bytes_s
            conn.frame_grace_s = self.limits.frame_grace_s
        return conn

    def private_paths(self) -> list[tuple[str, str]]:
        """(path, what the host is shown instead) for the target's own paths, longest first."""
        root = self.workdir
        pairs = {str(root.resolve()): "<workdir>", str(root.absolute()): "<workdir>", str(root): "<workdir>"}
        return sorted(((k, v) for k, v in pairs.items() if k not in ("", ".")), key=lambda kv: -len(kv[0]))

    def machine(self) -> dict[str, Any]:
        if self._machine is None:
            from edgeai_core.emulation import emulation_facts
            from edgeai_core.measurement import machine_facts

            self._machine = {**machine_facts(), **emulation_facts()}
        return self._machine


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


__all__ = [
    "BUSY_GRACE_S",
    "PREAUTH_FRAME_BYTES",
    "ServerLimits",
    "Session",
    "TargetServer",
    "check_exposure",
    "read_allowed_models",
]
