"""One host's session on a target: the request loop, and the handshake that every session begins with.

The session owns the connection and dispatches each request to the object responsible for it:
:class:`Handshake` (HELLO, AUTH), :class:`~edgeai_core.wire.uploads.ModelStore` (IOSPEC, MODEL, the
session's files), :class:`~edgeai_core.wire.inference.Inference` (the loaded runtime: INFER, DATA, PROCESS,
OUTPUT) and :class:`~edgeai_core.wire.inference.StatsReporter` (STATS).

Deadlines: on a byte stream (TCP) HELLO, and AUTH where a token is set, must complete within one handshake
deadline; any other frame before that gets one ERROR and the connection is closed. Once a frame has begun it
must arrive at a minimum rate (see :class:`~edgeai_core.wire.connection.Connection`); between frames the idle
timeout applies.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgeai_core.wire import messages as msg
from edgeai_core.wire.auth import host_proof, new_nonce, target_proof, verify
from edgeai_core.wire.connection import Connection, Frame, LinkError, LinkReset
from edgeai_core.wire.framing import TYPE_NAMES, VERSION, ErrorCode, MessageType, WireError
from edgeai_core.wire.inference import Inference, StatsReporter
from edgeai_core.wire.uploads import ModelStore

if TYPE_CHECKING:
    from edgeai_core.wire.server import TargetServer

log = logging.getLogger(__name__)

_OK = int(MessageType.OK)
_ERROR = int(MessageType.ERROR)
_INFER = int(MessageType.INFER)
_HELLO = int(MessageType.HELLO)
_AUTH = int(MessageType.AUTH)
#: Payload limit before the host has said HELLO (and authenticated, where required).
PREAUTH_FRAME_BYTES = 4096


class Handshake:
    """HELLO and AUTH: protocol version, nonces, the shared-secret proof both ways."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.greeted = False
        self.authed = session.server.token is None
        self.host_nonce = b""
        self.target_nonce = b""

    @property
    def done(self) -> bool:
        return self.greeted and self.authed

    def on_hello(self, frame: Frame) -> None:
        session = self.session
        if self.greeted:
            if not session.conn.reliable:  # a host restarted on the line: this HELLO begins a new session
                session.conn.requeue(frame)
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
        server = session.server
        record, limits = server.runtime_record, server.limits
        reply = msg.HelloReply(
            nonce=self.target_nonce,
            runtime=record.name,
            formats=tuple(record.formats),
            max_frame_bytes=limits.max_frame_bytes,
            max_model_bytes=limits.max_model_bytes,
            auth_required=server.token is not None,
            software=server.software,
            model_files=True,
            max_inflight=limits.max_inflight if hello.capabilities & msg.HOST_PIPELINING else 0,
        )
        self.greeted = True
        session.state_changed()
        session.send(MessageType.HELLO, [reply.encode()], frame.request_id)
        log.info("%s: HELLO from %s", session.peer, hello.software or "a host")

    def on_auth(self, frame: Frame) -> None:
        session = self.session
        token = session.server.token
        if token is None:
            raise WireError(ErrorCode.UNEXPECTED, "this target requires no authentication")
        if self.authed:
            raise WireError(ErrorCode.UNEXPECTED, "already authenticated")
        proof = frame.payload or b""
        if len(proof) != msg.MAC_SIZE or not verify(
            host_proof(token, self.target_nonce, self.host_nonce), proof
        ):
            log.warning("%s: authentication failed", session.peer)
            time.sleep(0.05)  # slows down guessing
            raise WireError(
                ErrorCode.AUTH_FAILED,
                "authentication failed: the host's token does not match this target's",
                fatal=True,
            )
        self.authed = True
        session.state_changed()
        session.send(_OK, [target_proof(token, self.host_nonce, self.target_nonce)], frame.request_id)

    def admit(self, type_: int) -> None:
        """Refuse (and close) anything but HELLO before HELLO, and anything but AUTH before AUTH."""
        if type_ == _HELLO:
            return
        if not self.greeted:
            raise WireError(ErrorCode.UNEXPECTED, "send HELLO first; closing the connection", fatal=True)
        if not self.authed and type_ != _AUTH:
            raise WireError(
                ErrorCode.AUTH_REQUIRED,
                "this target requires authentication; give the host its token (target.token_file)",
            )


class Session:
    """One host's session: handshake, then requests until it leaves, times out or breaks the protocol."""

    def __init__(self, server: TargetServer, conn: Connection, peer: str) -> None:
        self.server = server
        self.conn = conn
        self.peer = peer
        self.handshake = Handshake(self)
        #: messages received (the disconnection line counts them)
        self.requests = 0
        self.store = ModelStore(self)
        self.inference = Inference(self)
        self.stats = StatsReporter(self)
        self._hidden = server.private_paths()
        self._update_limits()
        self.handlers: dict[int, Callable[[Frame], bool | None]] = {
            MessageType.HELLO: self.handshake.on_hello,
            MessageType.AUTH: self.handshake.on_auth,
            MessageType.IOSPEC: self.store.on_iospec,
            MessageType.MODEL: self.store.on_model,
            MessageType.DATA: self.inference.on_data,
            MessageType.PROCESS: self.inference.on_process,
            MessageType.OUTPUT: self.inference.on_output,
            MessageType.INFER: self.inference.on_infer,
            MessageType.STATS: self.stats.on_stats,
            MessageType.BYE: self.on_bye,
        }

    @property
    def inferences(self) -> int:
        return self.inference.count

    def _update_limits(self) -> None:
        """Payload limits and timeouts for the session's state: tight until the handshake is done."""
        conn, limits = self.conn, self.server.limits
        if not self.handshake.done:
            conn.max_frame, conn.limits = PREAUTH_FRAME_BYTES, {}
            return
        conn.max_frame = limits.max_frame_bytes
        conn.limits = {int(MessageType.MODEL): limits.max_model_bytes + 512} if conn.reliable else {}

    def state_changed(self) -> None:
        """The handshake advanced: widen the limits, and once it is done, lift its deadline."""
        self._update_limits()
        if self.handshake.done:
            self.conn.deadline = None
            if self.conn.reliable:
                self.conn.set_timeout(self.server.limits.idle_timeout_s)
            self.server.session_admitted()

    # -- the loop --------------------------------------------------------------------------------------

    def run(self) -> str:
        """Serve requests until the host leaves; return why the session ended."""
        conn = self.conn
        limits = self.server.limits
        idle = limits.idle_timeout_s
        handshake_s = limits.handshake_timeout_s
        if conn.reliable:
            conn.deadline = time.monotonic() + handshake_s
        else:  # on a serial line nobody may be there yet: wait for HELLO as long as it takes
            conn.set_timeout(None)
        while True:
            if conn.deadline is not None:  # still in the handshake: no wait may pass its deadline
                left = conn.deadline - time.monotonic()
                if left <= 0:
                    return self._timed_out(0)
                conn.set_timeout(min(idle, left))
            try:
                frame = conn.recv()
            except TimeoutError:
                return self._timed_out(0)
            except WireError as exc:
                self.reply_error(0, exc.code, str(exc))
                if exc.fatal:
                    return "bad frame"
                continue
            except LinkReset:
                return "reset"
            except (ConnectionError, OSError):
                return "closed"
            self.requests += 1
            rid = frame.request_id
            if conn.buffered and conn.reliable and self.handshake.done and self._flooded(frame):
                return "flooded"
            try:
                if frame.type == _INFER and self.inference.runtime is not None:  # the benchmark's hot path
                    self.inference.on_infer(frame)
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
                return self._timed_out(0)
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
            if not conn.reliable and self.handshake.greeted:
                conn.set_timeout(idle)

    def _flooded(self, frame: Frame) -> bool:
        """Whether the host has more requests in flight than ``--max-inflight`` allows (the frame being
        handled, plus those already received behind it); such a host is answered ERROR and disconnected."""
        limit = self.server.limits.max_inflight
        waiting = self.conn.buffered_frames(limit)
        if 1 + waiting <= limit:
            return False
        log.warning("%s: more than %d requests in flight; closing the connection", self.peer, limit)
        self.reply_error(
            frame.request_id,
            ErrorCode.TOO_MANY_REQUESTS,
            f"more than {limit} requests in flight (this target's --max-inflight); keep fewer unanswered "
            "requests; closing the connection",
        )
        return True

    def _timed_out(self, request_id: int) -> str:
        if not self.conn.reliable:
            return "idle"
        if not self.handshake.done:
            limit = self.server.limits.handshake_timeout_s
            self.reply_error(
                request_id,
                ErrorCode.HANDSHAKE_TIMEOUT,
                f"HELLO{' and AUTH' if self.server.token else ''} did not complete within {limit:g} s; "
                "closing the connection",
            )
            return "handshake timeout"
        idle = self.server.limits.idle_timeout_s
        self.reply_error(
            request_id, ErrorCode.IDLE_TIMEOUT, f"no message for {idle:g} s; closing the connection"
        )
        return "idle"

    def handle(self, frame: Frame) -> bool | None:
        type_ = frame.type
        handler = self.handlers.get(type_)
        if handler is None:
            if not self.handshake.done:  # nothing but the handshake is talked about before it is done
                self.handshake.admit(type_)
            if type_ in TYPE_NAMES:
                raise WireError(
                    ErrorCode.UNEXPECTED, f"a target does not accept {TYPE_NAMES[type_]} messages from a host"
                )
            raise WireError(ErrorCode.UNKNOWN_TYPE, f"unknown message type 0x{type_:02x}")
        if not self.handshake.done:
            self.handshake.admit(type_)
        return handler(frame)

    def reply_error(self, request_id: int, code: int, message: str) -> None:
        for private, shown in self._hidden:  # the host learns file names, never the target's paths
            message = message.replace(private, shown)
        with contextlib.suppress(OSError, TimeoutError, LinkError, LinkReset):
            self.conn.send(_ERROR, [msg.encode_error(code, message)], request_id=request_id)

    def send(self, type: int, parts: list[Any], request_id: int) -> None:
        self.conn.send(type, parts, request_id=request_id)

    def on_bye(self, frame: Frame) -> bool:
        self.send(_OK, [], frame.request_id)
        return False

    def close(self) -> None:
        self.stats.close()
        self.inference.close()
        self.store.close()
        self.conn.deadline = None


__all__ = ["PREAUTH_FRAME_BYTES", "Handshake", "Session"]
