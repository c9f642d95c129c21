"""The host side of the wire protocol: handshake, authentication, model upload, inference, statistics.

:meth:`Client.prepare` encodes inputs once (the tensor headers; the arrays' memory is sent as is), so a
benchmark's timed call is exactly one INFER round trip: one ``sendmsg`` out, the reply read into a
preallocated buffer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.components import Stream
from edgeai_core.errors import RuntimeFailure
from edgeai_core.jsonvalues import attributes
from edgeai_core.wire import messages as msg
from edgeai_core.wire.auth import host_proof, new_nonce, target_proof, verify
from edgeai_core.wire.codec import decode_tensors, encode_tensors
from edgeai_core.wire.connection import Connection, Frame
from edgeai_core.wire.framing import ErrorCode, Flag, MessageType, WireError

log = logging.getLogger(__name__)

_OK = int(MessageType.OK)
_ERROR = int(MessageType.ERROR)
_OUTPUT = int(MessageType.OUTPUT)
_INFER = int(MessageType.INFER)
_U64_UNPACK = msg._U64.unpack_from
#: Request bytes a pipelining host keeps in flight without a sender thread: so little that the socket buffers
#: of both ends always take them, so a send can never wait on a target that waits on us to read.
INLINE_PIPELINE_BYTES = 128 << 10


class TargetError(RuntimeFailure):
    """The target answered ERROR. ``code`` is its :class:`~edgeai_core.wire.framing.ErrorCode`."""

    def __init__(self, code: int, message: str, where: str) -> None:
        try:
            name = ErrorCode(code).name
        except ValueError:
            name = str(code)
        super().__init__(f"target {where}: {message} ({name})")
        self.code = code
        self.target_message = message


class TargetLost(RuntimeFailure):
    """The connection to the target broke (closed, reset, timed out, or an unacknowledged serial link)."""


@dataclass(frozen=True)
class TargetInfo:
    """What the target said in HELLO."""

    runtime: str
    formats: tuple[str, ...]
    max_frame_bytes: int
    max_model_bytes: int
    auth_required: bool
    software: str
    version: int
    #: the target accepts models with companion files (HELLO reply flag 0x0002)
    model_files: bool = False
    #: the most requests the target lets a host keep in flight (HELLO reply flag 0x0004; 1: not announced)
    max_inflight: int = 1


class Prepared:
    """Inputs encoded for INFER: the buffers of one request, reused for every call."""

    __slots__ = ("length", "parts")

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts
        self.length = sum(len(p) for p in parts)


class Client:
    """A host's session with one target over ``stream``. Use :meth:`hello` first."""

    def __init__(
        self, stream: Stream, *, token: bytes | None = None, timeout_s: float = 10.0, software: str = ""
    ) -> None:
        self.stream = stream
        self.where = stream.describe()
        self.token = token
        self.timeout_s = timeout_s
        self.software = software or _software()
        self.conn = Connection(stream, role="host", max_frame=1 << 30)
        self.conn.set_timeout(timeout_s)
        self._rid = 0
        self.info: TargetInfo | None = None

    # -- plumbing ------------------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._rid = (self._rid + 1) & 0xFFFFFFFF or 1
        return self._rid

    def _lost(self, exc: BaseException, doing: str) -> TargetLost:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {self.timeout_s:g} s (target.timeout_s)"
        else:
            reason = str(exc) or type(exc).__name__
        return TargetLost(f"target {self.where}: connection lost during {doing}: {reason}")

    def _recv(self, request_id: int, doing: str) -> Frame:
        try:
            frame = self.conn.recv()
        except WireError as exc:
            raise TargetLost(f"target {self.where}: malformed reply during {doing}: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise self._lost(exc, doing) from None
        if frame.header.type == _ERROR:
            code, text = msg.decode_error(frame.payload or b"")
            raise TargetError(code, text, self.where)
        if frame.header.request_id != request_id:
            raise TargetLost(
                f"target {self.where}: reply to request {frame.header.request_id} during {doing} "
                f"(expected {request_id}); the session is out of step"
            )
        return frame

    def request(self, type: int, parts: Sequence[Any] = (), *, expect: int = _OK, flags: int = 0) -> Frame:
        """Send one request and return its reply (of type ``expect``; ERROR raises TargetError)."""
        rid = self._next_id()
        doing = MessageType(type).name
        try:
            self.conn.send(type, parts, request_id=rid, flags=flags)
        except (OSError, TimeoutError) as exc:
            raise self._lost(exc, doing) from None
        frame = self._recv(rid, doing)
        if frame.header.type != expect:
            raise TargetLost(
                f"target {self.where}: answered {frame.header.type_name} to {doing}, expected "
                f"{MessageType(expect).name}"
            )
        return frame

    # -- session -------------------------------------------------------------------------------------

    def hello(self) -> TargetInfo:
        """Handshake (and authenticate where a token is set or the target requires it)."""
        nonce = new_nonce()
        frame = self.request(
            MessageType.HELLO,
            [msg.Hello(nonce=nonce, software=self.software, capabilities=msg.HOST_PIPELINING).encode()],
            expect=MessageType.HELLO,
        )
        try:
            reply = msg.HelloReply.decode(frame.payload or b"")
        except WireError as exc:
            raise TargetLost(f"target {self.where}: malformed HELLO reply: {exc}") from None
        info = attributes(reply, (f.name for f in fields(TargetInfo)))
        self.info = TargetInfo(**{**info, "max_inflight": max(1, reply.max_inflight)})
        if reply.auth_required:
            if self.token is None:
                raise RuntimeFailure(
                    f"target {self.where} requires authentication; set target.token_file to its token file"
                )
            ok = self.request(MessageType.AUTH, [host_proof(self.token, reply.nonce, nonce)])
            if not verify(target_proof(self.token, nonce, reply.nonce), ok.payload or b""):
                raise RuntimeFailure(
                    f"target {self.where} accepted our proof but could not prove it holds the token; "
                    "refusing to use it"
                )
        elif self.token is not None:
            raise RuntimeFailure(
                f"target {self.where} does not require authentication although target.token_file is set; "
                "refusing to send it anything (start it with `edgeai serve --token-file ...`)"
            )
        return self.info

    def bye(self) -> None:
        """End the session politely (best effort)."""
        with contextlib.suppress(RuntimeFailure):
            self.request(MessageType.BYE)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stream.close()

    # -- model ---------------------------------------------------------------------------------------

    def send_iospec(self, spec: dict[str, Any]) -> None:
        """The model's sidecar (format, IO spec, ...) and runtime parameters; answered OK when accepted."""
        self.request(MessageType.IOSPEC, [msg.encode_json(spec)])

    def iospec(self) -> dict[str, Any]:
        """The loaded model's sidecar as the target stores it."""
        frame = self.request(MessageType.IOSPEC, expect=MessageType.IOSPEC)
        return msg.decode_json_object(frame.payload or b"", "IOSPEC reply")

    def upload(
        self,
        path: Path,
        *,
        name: str | None = None,
        check_limit: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[int, int]:
        """Upload a model file in MODEL chunks; return (bytes, target load time in ns) once it is loaded."""
        path = Path(path)
        name = msg.check_name(name or path.name) if check_limit else (name or path.name)
        size = path.stat().st_size
        info = self.info
        if check_limit and info is not None and size > info.max_model_bytes:
            raise RuntimeFailure(
                f"model {path.name} has {size} bytes, but target {self.where} accepts at most "
                f"{info.max_model_bytes} bytes (edgeai serve --max-model-mb)"
            )
        chunk = self.stream.chunk_bytes
        if info is not None and not self.conn.reliable:
            chunk = min(chunk, max(1024, info.max_frame_bytes - 512))
        head = msg.encode_model_head(size, name)
        rid = self._next_id()
        offset = 0
        first = True
        with path.open("rb") as handle:
            while True:
                count = min(chunk, size - offset)
                last = offset + count >= size
                flags = (0 if first else Flag.CONT) | (0 if last else Flag.MORE)
                try:
                    self.conn.send_file(
                        MessageType.MODEL,
                        head if first else b"",
                        handle,
                        offset,
                        count,
                        request_id=rid,
                        flags=int(flags),
                    )
                except (OSError, TimeoutError) as exc:
                    raise self._lost(exc, "MODEL") from None
                offset += count
                first = False
                if progress is not None:
                    progress(offset, size)
                if last:
                    break
                if self.conn.pending():  # an early ERROR: stop sending and end the upload
                    try:
                        self.conn.send(MessageType.MODEL, [], request_id=rid, flags=int(Flag.CONT))
                    except (OSError, TimeoutError) as exc:
                        raise self._lost(exc, "MODEL") from None
                    break
        frame = self._recv(rid, "MODEL")
        if frame.header.type != _OK:
            raise TargetLost(f"target {self.where}: answered {frame.header.type_name} to MODEL")
        try:
            stored, load_ns = msg.decode_two_u64(frame.payload or b"", "MODEL reply")
        except WireError as exc:
            raise TargetLost(f"target {self.where}: {exc}") from None
        return stored, load_ns

    # -- inference -----------------------------------------------------------------------------------

    @staticmethod
    def prepare(inputs: Sequence[np.ndarray]) -> Prepared:
        """Encode ``inputs`` for :meth:`infer_prepared` (the arrays must not change while in use)."""
        return Prepared(encode_tensors(inputs))

    def infer_prepared(self, prepared: Prepared) -> int:
        """One INFER round trip; return the target's inference time in ns (the outputs stay unread)."""
        self._rid = rid = (self._rid + 1) & 0xFFFFFFFF or 1
        conn = self.conn
        try:
            conn.send(_INFER, prepared.parts, request_id=rid, length=prepared.length)
            frame = conn.recv()
        except (OSError, TimeoutError) as exc:
            raise self._lost(exc, "INFER") from None
        except WireError as exc:
            raise TargetLost(f"target {self.where}: malformed reply during INFER: {exc}") from None
        if frame.type != _OUTPUT or frame.request_id != rid:
            self._unexpected(frame, rid, "INFER")
        payload = frame.payload
        if payload is None or len(payload) < 8:
            raise TargetLost(f"target {self.where}: OUTPUT without its 8-byte inference time")
        return int(_U64_UNPACK(payload)[0])

    def window(self, wanted: int) -> int:
        """How many requests :meth:`pipeline` may keep in flight: ``wanted``, capped by what the target
        announced (1 for targets that announced nothing, and on unreliable links, which stop and wait)."""
        allowed = self.info.max_inflight if self.info is not None else 1
        return max(1, min(wanted, allowed if self.conn.reliable else 1))

    def pipeline(
        self,
        count: int,
        request: Callable[[int], Prepared],
        window: int,
        *,
        arrivals_ns: np.ndarray | None = None,
        on_reply: Callable[[int, Frame], None] | None = None,
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """Send ``count`` INFERs (request ``i`` is ``request(i)``) with up to ``window`` in flight; return
        (start ns, issue ns of each, reply ns of each), ``perf_counter_ns``.

        Each request carries its own request id; the target answers in order, and each reply must carry the
        id of the oldest request in flight (anything else is a lost session). Without an arrival schedule,
        while the requests in flight total at most :data:`INLINE_PIPELINE_BYTES`, this thread sends and
        reads alternately (the socket buffers hold what is in flight, so neither side can block the other);
        otherwise a sender thread issues requests (request ``i`` not before ``start + arrivals_ns[i]`` where
        given) while this thread reads replies, however large the tensors. ``on_reply(i, frame)`` sees each
        OUTPUT frame (its payload is valid only during the call). An ERROR reply raises
        :class:`TargetError` (once the sender has stopped).
        """
        window = self.window(window)
        issued = np.zeros(count, dtype=np.int64)
        done = np.zeros(count, dtype=np.int64)
        first = self._rid
        ids = [((first + i) & 0xFFFFFFFF) or 1 for i in range(1, count + 1)]  # what _next_id would give
        self._rid = ids[-1] if ids else first
        if arrivals_ns is None and count and request(0).length <= INLINE_PIPELINE_BYTES:
            return self._pipeline_inline(count, request, window, ids, issued, done, on_reply)
        return self._pipeline_threaded(count, request, window, ids, issued, done, arrivals_ns, on_reply)

    def _reply(self, rid: int) -> Frame:
        try:
            frame = self.conn.recv()
        except (OSError, TimeoutError) as exc:
            raise self._lost(exc, "INFER") from None
        except WireError as exc:
            raise TargetLost(f"target {self.where}: malformed reply during INFER: {exc}") from None
        if frame.type != _OUTPUT or frame.request_id != rid:
            self._unexpected(frame, rid, "INFER")
        return frame

    def _pipeline_inline(
        self,
        count: int,
        request: Callable[[int], Prepared],
        window: int,
        ids: list[int],
        issued: np.ndarray,
        done: np.ndarray,
        on_reply: Callable[[int, Frame], None] | None,
    ) -> tuple[int, np.ndarray, np.ndarray]:
        clock, conn, reply = time.perf_counter_ns, self.conn, self._reply
        lengths: list[int] = []
        in_flight = 0  # request bytes sent and not yet answered
        sent = 0
        start = clock()
        for i in range(count):
            # refill the window, in one send, unless more replies are already here to read first
            if sent < count and sent - i < window and (sent == i or not conn.buffered):
                batch = []
                now = clock()
                while sent < count and sent - i < window:
                    prepared = request(sent)
                    if sent > i and in_flight + prepared.length > INLINE_PIPELINE_BYTES:
                        break
                    batch.append((prepared.parts, ids[sent], prepared.length))
                    issued[sent] = now
                    lengths.append(prepared.length)
                    in_flight += prepared.length
                    sent += 1
                try:
                    conn.send_many(_INFER, batch)
                except (OSError, TimeoutError) as exc:
                    raise self._lost(exc, "INFER") from None
            frame = reply(ids[i])
            done[i] = clock()
            in_flight -= lengths[i]
            if on_reply is not None:
                on_reply(i, frame)
        return start, issued, done

    def _pipeline_threaded(
        self,
        count: int,
        request: Callable[[int], Prepared],
        window: int,
        ids: list[int],
        issued: np.ndarray,
        done: np.ndarray,
        arrivals_ns: np.ndarray | None,
        on_reply: Callable[[int, Frame], None] | None,
    ) -> tuple[int, np.ndarray, np.ndarray]:
        clock = time.perf_counter_ns
        slots = threading.Semaphore(window)
        stop = threading.Event()
        failure: list[BaseException] = []
        conn = self.conn
        start = clock()

        def sender() -> None:
            try:
                for i in range(count):
                    slots.acquire()
                    if stop.is_set():
                        return
                    if arrivals_ns is not None:
                        when = start + int(arrivals_ns[i])
                        while (left := when - clock()) > 0:
                            time.sleep(left / 1e9 if left > 2_000_000 else 0)
                    prepared = request(i)
                    issued[i] = clock()
                    conn.send(_INFER, prepared.parts, request_id=ids[i], length=prepared.length)
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=sender, name="edgeai-pipeline", daemon=True)
        thread.start()
        try:
            for i in range(count):
                try:
                    frame = conn.recv()
                except (OSError, TimeoutError) as exc:
                    if failure:
                        raise self._lost(failure[0], "INFER") from None
                    raise self._lost(exc, "INFER") from None
                except WireError as exc:
                    raise TargetLost(f"target {self.where}: malformed reply during INFER: {exc}") from None
                done[i] = clock()
                if frame.type != _OUTPUT or frame.request_id != ids[i]:
                    self._unexpected(frame, ids[i], "INFER")
                if on_reply is not None:
                    on_reply(i, frame)
                slots.release()
        finally:
            stop.set()
            slots.release()
            thread.join(self.timeout_s)
        if failure:
            problem = failure[0]
            if isinstance(problem, (OSError, TimeoutError)):
                raise self._lost(problem, "INFER") from None
            raise problem
        return start, issued, done

    def infer_many(
        self, batches: Sequence[Sequence[np.ndarray]], window: int
    ) -> list[tuple[list[np.ndarray], int]]:
        """(outputs, target ns) of each batch, in order, with up to ``window`` requests in flight."""
        prepared = [self.prepare(batch) for batch in batches]
        results: list[tuple[list[np.ndarray], int]] = [([], 0)] * len(prepared)

        def keep(i: int, frame: Frame) -> None:
            results[i] = self._outputs(frame)

        self.pipeline(len(prepared), prepared.__getitem__, window, on_reply=keep)
        return results

    def _unexpected(self, frame: Frame, rid: int, doing: str) -> None:
        if frame.header.type == _ERROR:
            code, text = msg.decode_error(frame.payload or b"")
            raise TargetError(code, text, self.where)
        raise TargetLost(
            f"target {self.where}: answered {frame.header.type_name} (request {frame.header.request_id}) "
            f"to {doing} (request {rid})"
        )

    def infer(self, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """One INFER round trip; return (outputs, target inference ns). Outputs are copies."""
        frame = self.request(_INFER, encode_tensors(inputs), expect=_OUTPUT)
        return self._outputs(frame)

    def _outputs(self, frame: Frame) -> tuple[list[np.ndarray], int]:
        payload = frame.payload or b""
        if len(payload) < 8:
            raise TargetLost(f"target {self.where}: OUTPUT without its 8-byte inference time")
        try:
            outputs = decode_tensors(payload, 8, copy=True)
        except WireError as exc:
            raise TargetLost(f"target {self.where}: malformed OUTPUT: {exc}") from None
        return outputs, int(_U64_UNPACK(payload)[0])

    def data(self, inputs: Sequence[np.ndarray]) -> None:
        """DATA: store inputs on the target for PROCESS."""
        self.request(MessageType.DATA, encode_tensors(inputs))

    def process(self) -> int:
        """PROCESS: the target answers OK when inference starts and OK when it ends; return its ns."""
        rid = self._next_id()
        try:
            self.conn.send(MessageType.PROCESS, (), request_id=rid)
        except (OSError, TimeoutError) as exc:
            raise self._lost(exc, "PROCESS") from None
        self._recv(rid, "PROCESS")  # started
        end = self._recv(rid, "PROCESS")
        try:
            return msg.decode_u64(end.payload or b"", "PROCESS reply")
        except WireError as exc:
            raise TargetLost(f"target {self.where}: {exc}") from None

    def output(self) -> tuple[list[np.ndarray], int]:
        """OUTPUT: the outputs of the last PROCESS."""
        return self._outputs(self.request(MessageType.OUTPUT, expect=_OUTPUT))

    def stats(
        self,
        action: int = msg.STATS_REPORT,
        interval_s: float | None = None,
        cpus: Sequence[int] | None = None,
        runs: int | None = None,
    ) -> dict[str, Any]:
        """STATS: runtime, model, counters, the target's machine and (per ``action``) resource series.

        ``STATS_START`` starts a resource window (sampled every ``interval_s``, default: the target's; with
        ``cpus``, the target's runtime is pinned to them until the window ends), ``STATS_STOP`` ends it and
        returns its series, ``STATS_REPORT`` returns the window so far, ``STATS_PROFILE`` profiles ``runs``
        inferences on the last DATA's inputs (the reply's ``profile``)."""
        payload = msg.encode_stats_request(action, interval_s, cpus, runs)
        frame = self.request(MessageType.STATS, [payload], expect=MessageType.STATS)
        try:
            return msg.decode_json_object(frame.payload or b"", "STATS reply")
        except WireError as exc:
            raise TargetLost(f"target {self.where}: {exc}") from None


def _software() -> str:
    from importlib import metadata

    try:
        return f"edgeai-core {metadata.version('edgeai-core')}"
    except metadata.PackageNotFoundError:
        return "edgeai-core"


__all__ = ["Client", "Prepared", "TargetError", "TargetInfo", "TargetLost"]
