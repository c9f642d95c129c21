"""Frames over a :class:`~edgeai_core.components.Stream`: buffered receive, scatter-gather send, and on
unreliable links (serial) a stop-and-wait ARQ that retransmits corrupted frames.

Receive side: one preallocated buffer, filled with ``recv_into`` (read-ahead, so a small frame usually takes
one system call); a frame's payload is a memoryview into it, valid until the next receive. MODEL frames
larger than the buffer are not buffered: the caller streams them to a file (:meth:`Connection.copy_payload`).
Send side: the 24-byte header and the payload's buffers go out in one ``sendmsg``; nothing is concatenated.

Unreliable links: every frame carries CRC32 and a sequence number (the header's ``seq``) and is answered by
an ACK; a frame that arrives corrupted is answered by NAK and the sender repeats its outstanding frame, at
most ``retries`` times. Duplicates (a lost ACK) are acknowledged again but delivered once. A HELLO from the
host restarts the sequence numbers, so a restarted host can always reach a running target.
"""

from __future__ import annotations

import collections
import logging
import os
import time
import zlib
from collections.abc import Callable, Sequence

from edgeai_core.components import Stream
from edgeai_core.wire.framing import (
    _FULL,
    _HEAD,
    _U32,
    HEADER_SIZE,
    KNOWN_FLAGS,
    MAGIC_U32,
    TYPE_NAMES,
    VERSION,
    ErrorCode,
    Flag,
    FrameHeader,
    MessageType,
    WireError,
    decode_header,
)

log = logging.getLogger(__name__)

Buffer = bytes | bytearray | memoryview

#: Default receive buffer; frames up to this size are read with few system calls.
DEFAULT_BUFFER = 1 << 20
#: MODEL frames with a payload above this are streamed to the caller instead of buffered.
STREAM_THRESHOLD = 1 << 20
#: Largest read of a streamed upload (16 MiB reads keep pace with a raw TCP transfer to a file; 4 MiB do not).
UPLOAD_CHUNK = 16 << 20

_ACK = int(MessageType.ACK)
_NAK = int(MessageType.NAK)
_HELLO = int(MessageType.HELLO)
_MODEL = int(MessageType.MODEL)
_CRC = int(Flag.CRC)
_CONT = int(Flag.CONT)
_RESERVED = ~KNOWN_FLAGS & 0xFF
_FULL_UNPACK = _FULL.unpack_from


class ConnectionClosed(ConnectionError):
    """The peer closed the stream."""


class LinkError(ConnectionError):
    """An unreliable link gave up: a frame was not acknowledged after every retry."""


class LinkReset(ConnectionError):
    """A host restarted the link with a new HELLO while the target was waiting for an acknowledgement."""


class Frame(FrameHeader):
    """A received frame: its header fields and ``payload`` (None for a streamed MODEL frame, read it with the
    connection). One object per frame: ``frame.header`` is the frame itself."""

    __slots__ = ("payload",)

    def __init__(
        self,
        type: int,
        flags: int,
        seq: int,
        request_id: int,
        length: int,
        payload_crc: int,
        payload: memoryview | bytes | None,
    ) -> None:
        super().__init__(type, flags, seq, request_id, length, payload_crc)
        self.payload = payload

    @property
    def header(self) -> Frame:
        return self

    @classmethod
    def of(cls, header: FrameHeader, payload: memoryview | bytes | None) -> Frame:
        h = header
        return cls(h.type, h.flags, h.seq, h.request_id, h.length, h.payload_crc, payload)


class Connection:
    """Sends and receives frames on one stream.

    ``role`` is ``host`` or ``target`` (it decides who restarts sequence numbers on HELLO). The largest payload
    accepted for a message type is ``limits.get(type, max_frame)`` (or ``limit(type)`` when given); a longer
    one is fatal (``FRAME_TOO_LARGE``), as is a bad header (``BAD_FRAME``); a payload CRC mismatch is not.
    """

    def __init__(
        self,
        stream: Stream,
        *,
        role: str,
        max_frame: int = 64 << 20,
        limit: Callable[[int], int] | None = None,
        buffer_bytes: int = DEFAULT_BUFFER,
        retries: int = 8,
        ack_timeout_s: float = 0.5,
    ) -> None:
        if role not in ("host", "target"):
            raise ValueError(f"role must be host or target, got {role!r}")
        self.stream = stream
        self.role = role
        self.reliable = stream.reliable
        self.max_frame = max_frame
        #: payload limits by message type, over ``max_frame`` (the server tightens them before HELLO)
        self.limits: dict[int, int] = {}
        self._custom_limit = limit
        self._sendv = getattr(stream, "sendv", None)
        self._buf = bytearray(buffer_bytes)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._streaming = 0  # bytes of a streamed payload not yet read by the caller
        self._stream_crc: int | None = None  # running CRC of a streamed payload, when it carries one
        self._stream_header: FrameHeader | None = None
        self._scratch: bytearray | None = None
        # unreliable links
        self.retries = retries
        self.ack_timeout_s = ack_timeout_s
        self.timeout_s: float | None = None  # receive timeout of recv_frame on unreliable links
        #: Byte streams: once a frame has begun it must arrive within ``frame_grace_s + size / min_rate``
        #: (None: no such deadline, as on a host). ``deadline``: a monotonic time no receive may pass (the
        #: target's handshake deadline).
        self.min_rate: float | None = None
        self.frame_grace_s = 2.0
        self.deadline: float | None = None
        self._frame_t0 = 0.0  # when the frame being received began, while it is incomplete
        self._timeout_dirty = False  # the stream's timeout is a frame's, not the idle one
        self._stream_size = 0  # header + payload of the streamed frame
        self._send_seq = 0
        self._expect = 0
        self._last_hello: tuple[int, int] | None = None
        self._queue: collections.deque[Frame] = collections.deque()
        self._outbox: list[Buffer] = []  # replies held back by post() while more requests are buffered
        self._outbox_bytes = 0

    def limit(self, type: int) -> int:
        """The largest payload accepted for a message of ``type``."""
        if self._custom_limit is not None:
            return self._custom_limit(type)
        return self.limits.get(type, self.max_frame)

    def set_timeout(self, seconds: float | None) -> None:
        """Timeout of each receive (and send): the stream's own on reliable links, per frame on others."""
        self.timeout_s = seconds
        if self.reliable:
            self.stream.settimeout(seconds)

    # -- sending --------------------------------------------------------------------------------------

    def send(
        self,
        type: int,
        parts: Sequence[Buffer] = (),
        *,
        request_id: int = 0,
        flags: int = 0,
        length: int | None = None,
    ) -> None:
        """Send one frame whose payload is the concatenation of ``parts`` (``length`` bytes, when known)."""
        if not self.reliable:
            self._send_arq(type, parts, request_id, flags)
            return
        if length is None:
            length = 0
            for part in parts:
                length += len(part)
        pcrc = 0
        if flags & _CRC:
            for part in parts:
                pcrc = zlib.crc32(part, pcrc)
        head = _HEAD.pack(MAGIC_U32, VERSION, type, flags, 0, request_id, length, pcrc)
        head += _U32.pack(zlib.crc32(head))
        if parts and isinstance(parts[0], bytes) and len(parts[0]) <= 256:  # one iovec less
            buffers = [head + parts[0], *parts[1:]]
        else:
            buffers = [head, *parts]
        if self._sendv is not None:
            self._sendv(buffers, HEADER_SIZE + length)
        else:
            self.stream.send(*buffers)

    def post(self, type: int, parts: Sequence[Buffer], request_id: int, length: int) -> None:
        """Send a reply (no flags) during a burst: while further requests are already in the receive buffer
        (a pipelining host) it is held back and goes out with the next ones in one ``sendmsg``; the burst
        sends what is held before it waits for input or ends (:meth:`flush`)."""
        head = _HEAD.pack(MAGIC_U32, VERSION, type, 0, 0, request_id, length, 0)
        self._outbox.append(head + _U32.pack(zlib.crc32(head)))
        self._outbox.extend(parts)
        self._outbox_bytes += HEADER_SIZE + length
        if self._start == self._end or len(self._outbox) > 256 or self._outbox_bytes > STREAM_THRESHOLD:
            self.flush()

    def flush(self) -> None:
        """Send the replies :meth:`post` held back, in order, in one ``sendmsg``."""
        if not self._outbox:
            return
        buffers, total = self._outbox, self._outbox_bytes
        self._outbox, self._outbox_bytes = [], 0
        if self._sendv is not None:
            self._sendv(buffers, total)
        else:
            self.stream.send(*buffers)

    def send_many(self, type: int, requests: Sequence[tuple[Sequence[Buffer], int, int]]) -> None:
        """Send several frames of ``type`` at once: ``(parts, request_id, length)`` each, in one ``sendmsg``
        where the link allows (a pipelining host refilling its window)."""
        if not self.reliable or self._sendv is None:
            for parts, rid, length in requests:
                self.send(type, parts, request_id=rid, length=length)
            return
        buffers: list[Buffer] = []
        total = 0
        for parts, rid, length in requests:
            head = _HEAD.pack(MAGIC_U32, VERSION, type, 0, 0, rid, length, 0)
            buffers.append(head + _U32.pack(zlib.crc32(head)))
            buffers.extend(parts)
            total += HEADER_SIZE + length
            if len(buffers) > 512:  # well under IOV_MAX (1024 on Linux)
                self._sendv(buffers, total)
                buffers, total = [], 0
        if buffers:
            self._sendv(buffers, total)

    def send_file(
        self,
        type: int,
        head: bytes,
        file: object,
        offset: int,
        count: int,
        *,
        request_id: int = 0,
        flags: int = 0,
    ) -> None:
        """Send a frame whose payload is ``head`` then ``count`` bytes of ``file`` from ``offset``.

        On reliable links the file goes out with the transport's ``send_file`` (sendfile for TCP), never
        through Python memory; unreliable links read it (chunks there are small) and send it with CRC.
        """
        if not self.reliable or flags & _CRC:
            os.lseek(file.fileno(), offset, os.SEEK_SET)  # type: ignore[attr-defined]
            data = _read_exactly(file.fileno(), count)  # type: ignore[attr-defined]
            self.send(type, (head, data), request_id=request_id, flags=flags)
            return
        length = len(head) + count
        header = _HEAD.pack(MAGIC_U32, VERSION, type, flags, 0, request_id, length, 0)
        self.stream.send(header + _U32.pack(zlib.crc32(header)), head)
        self.stream.send_file(file, offset, count)  # type: ignore[arg-type]

    # -- receiving ------------------------------------------------------------------------------------

    def recv(self) -> Frame:
        """The next frame. Raises WireError (bad frames), TimeoutError, ConnectionClosed, LinkError."""
        if not self.reliable:
            return self._recv_arq()
        if self._streaming:
            self.skip_payload()
        if self._end - self._start < HEADER_SIZE:
            self._fill(HEADER_SIZE)
        start = self._start
        magic, version, type_, flags, seq, rid, length, pcrc, hcrc = _FULL_UNPACK(self._buf, start)
        if (
            magic != MAGIC_U32
            or version != VERSION
            or flags & _RESERVED
            or zlib.crc32(self._view[start : start + 20]) != hcrc
        ):
            decode_header(self._buf, start)  # raises the precise error
        limit = (
            self.limits.get(type_, self.max_frame)
            if self._custom_limit is None
            else self._custom_limit(type_)
        )
        if length > limit:
            raise WireError(
                ErrorCode.FRAME_TOO_LARGE,
                f"{TYPE_NAMES.get(type_, hex(type_))} payload of {length} bytes exceeds the limit of {limit} bytes",
                fatal=True,
            )
        if type_ == _MODEL and length > STREAM_THRESHOLD:
            frame = Frame(type_, flags, seq, rid, length, pcrc, None)
            self._start += HEADER_SIZE
            self._streaming = length
            self._stream_size = HEADER_SIZE + length
            self._stream_header = frame
            self._stream_crc = 0 if flags & _CRC else None
            return frame
        total = HEADER_SIZE + length
        if self._end - start < total:
            self._fill(total)
            start = self._start
        start += HEADER_SIZE
        end = start + length
        payload = self._view[start:end]
        if end == self._end:
            self._start = self._end = 0
        else:
            self._start = end
        if self._timeout_dirty:
            self._frame_done()
        if flags & _CRC and zlib.crc32(payload) != pcrc:
            raise WireError(
                ErrorCode.BAD_CRC, f"{TYPE_NAMES.get(type_, hex(type_))}: payload CRC mismatch", fatal=False
            )
        return Frame(type_, flags, seq, rid, length, pcrc, payload)

    def burst(
        self,
        type: int,
        length: int,
        prefix: bytes,
        handler: Callable[[int, memoryview], None],
        max_inflight: int | None = None,
    ) -> None:
        """Serve back-to-back requests that look exactly like the one just handled: a benchmark's INFERs.

        While the next frame has this ``type``, payload ``length``, no flags and a payload starting with
        ``prefix`` (its tensor headers), call ``handler(request_id, payload)`` (which sends the reply) with as
        little Python per frame as possible: one receive, one header check, no frame object. Anything else
        (another message, a partial frame after buffered ones, a streamed payload) ends the burst with the bytes
        left in the buffer, so :meth:`recv` goes on exactly where the burst stopped. Frames of a pipelining
        host that arrived together are served from the buffer one after the other; when more than
        ``max_inflight`` requests are waiting the burst ends too, and the caller's own check refuses the host.
        Reliable links only.
        """
        total = HEADER_SIZE + length
        if not self.reliable or self._custom_limit is not None or total > len(self._buf):
            return
        if length > self.limits.get(type, self.max_frame):
            return
        prefix_end = HEADER_SIZE + len(prefix)
        limit_bytes = (max_inflight - 1) * total if max_inflight is not None else 1 << 62
        try:
            self._burst(type, length, prefix, handler, total, prefix_end, limit_bytes)
        finally:
            self.flush()

    def _burst(
        self,
        type: int,
        length: int,
        prefix: bytes,
        handler: Callable[[int, memoryview], None],
        total: int,
        prefix_end: int,
        limit_bytes: int,
    ) -> None:
        recv_into, unpack, crc32 = self.stream.recv_into, _FULL_UNPACK, zlib.crc32
        while not self._streaming:
            view = self._view
            start = self._start
            if start != self._end:  # pipelined frames already in the buffer
                left = self._end - start
                if left < total or left - total > limit_bytes:
                    return
                magic, version, type_, flags, _seq, rid, size, _pcrc, hcrc = unpack(view, start)
                if (
                    type_ != type
                    or size != length
                    or flags
                    or magic != MAGIC_U32
                    or version != VERSION
                    or crc32(view[start : start + 20]) != hcrc
                    or view[start + HEADER_SIZE : start + prefix_end] != prefix
                ):
                    return
                if left == total:
                    self._start = self._end = 0
                else:
                    self._start = start + total
                handler(rid, view[start + HEADER_SIZE : start + total])
                continue
            self.flush()  # every held reply is out before this waits for input
            got = recv_into(view)
            if not got:
                raise ConnectionClosed(f"{self.stream.describe()} closed the connection")
            self._start, self._end = 0, got
            if got < HEADER_SIZE:
                return
            magic, version, type_, flags, _seq, rid, size, _pcrc, hcrc = unpack(view, 0)
            if (
                type_ != type
                or size != length
                or flags
                or magic != MAGIC_U32
                or version != VERSION
                or crc32(view[:20]) != hcrc
            ):
                return
            if got < total:  # a partial frame: the rest must follow at the minimum rate
                while got < total:
                    self._frame_wait(total)
                    try:
                        more = recv_into(view[got:])
                    except TimeoutError:
                        if self.min_rate is None and self.deadline is None:
                            raise
                        raise self._too_slow(total) from None
                    if not more:
                        raise ConnectionClosed(f"{self.stream.describe()} closed the connection")
                    got += more
                    self._end = got
                self._frame_done()
            if view[HEADER_SIZE:prefix_end] != prefix:
                return
            if got == total:
                self._start = self._end = 0
            else:
                self._start = total
            handler(rid, view[HEADER_SIZE:total])

    @property
    def buffered(self) -> bool:
        """Whether bytes of further frames are already in the receive buffer (a pipelining host)."""
        return self._end > self._start and not self._streaming

    def buffered_frames(self, at_most: int) -> int:
        """How many requests have begun in the receive buffer after the current frame (counting stops past
        ``at_most``): what a pipelining host has in flight behind the request being handled. A frame that
        continues a message (flag ``CONT``, the chunks of an upload) is part of its message's request."""
        pos, end, count = self._start, self._end, 0
        buf = self._buf
        while pos < end and count <= at_most:
            if end - pos < HEADER_SIZE:
                count += 1
                break
            if not buf[pos + 6] & _CONT:
                count += 1
            pos += HEADER_SIZE + _U32.unpack_from(buf, pos + 12)[0]
        return count

    def requeue(self, frame: Frame) -> None:
        """Put a received frame back: the next :meth:`recv` returns it (unreliable links only, where
        payloads are copies; a target hands a new session the HELLO that ended the old one)."""
        if self.reliable:
            raise RuntimeError("requeue is for unreliable links")
        self._queue.appendleft(frame)

    def pending(self) -> bool:
        """Whether a frame from the peer is already waiting (an early reply during an upload)."""
        return bool(self._queue) or self._end > self._start or self.stream.pending()

    def _make_room(self, need: int, avail: int) -> None:
        """Move the ``avail`` buffered bytes to the front of the buffer, growing it to hold ``need`` bytes."""
        if need > len(self._buf):
            grown = bytearray(max(need, 2 * len(self._buf)))
            grown[:avail] = self._view[self._start : self._end]
            self._buf, self._view = grown, memoryview(grown)
        else:
            self._buf[:avail] = self._view[self._start : self._end]
        self._start, self._end = 0, avail

    def _fill(self, need: int) -> None:
        """Make at least ``need`` bytes available from ``_start``, reading ahead as far as the buffer allows."""
        avail = self._end - self._start
        if self._start + need > len(self._buf):
            self._make_room(need, avail)
        view, recv_into = self._view, self.stream.recv_into
        target = self._start + need
        while self._end < target:
            # bytes of this frame are here already (or it is a streamed payload): it has begun
            started = self._end > self._start or self._streaming
            if started:
                self._frame_wait(self._stream_size if self._streaming else need)
            try:
                n = recv_into(view[self._end :])
            except TimeoutError:
                if started and (self.min_rate is not None or self.deadline is not None):
                    raise self._too_slow(self._stream_size if self._streaming else need) from None
                raise
            if not n:
                raise ConnectionClosed(f"{self.stream.describe()} closed the connection")
            self._end += n

    def _frame_wait(self, size: int) -> None:
        """About to wait for more of a frame of ``size`` bytes that has begun: bound that wait by the frame's
        deadline (and :attr:`deadline`). Costs nothing on a connection without :attr:`min_rate`."""
        if self.min_rate is None and self.deadline is None:
            return
        now = time.monotonic()
        if not self._frame_t0:
            self._frame_t0 = now
        left = float("inf")
        if self.min_rate is not None:
            left = self._frame_t0 + self.frame_grace_s + size / self.min_rate - now
        if self.deadline is not None:
            left = min(left, self.deadline - now)
        if left <= 0:
            raise self._too_slow(size)
        if self.timeout_s is not None:
            left = min(left, self.timeout_s)
        self.stream.settimeout(left)
        self._timeout_dirty = True

    def _too_slow(self, size: int) -> WireError:
        self._frame_done()
        rate = f" (at least {self.min_rate:g} bytes/s)" if self.min_rate else ""
        return WireError(
            ErrorCode.FRAME_TIMEOUT,
            f"a frame of {size} bytes did not arrive in time{rate}; closing the connection",
            fatal=True,
        )

    def _frame_done(self) -> None:
        """The frame is complete (or abandoned): the idle timeout applies again."""
        self._frame_t0 = 0.0
        if self._timeout_dirty:
            self._timeout_dirty = False
            self.stream.settimeout(self.timeout_s)

    # -- streamed payloads (large MODEL frames on reliable links) ------------------------------------

    @property
    def streaming(self) -> int:
        """Bytes of the current streamed payload still to read."""
        return self._streaming

    def read_payload(self, n: int) -> bytes:
        """The next ``n`` bytes (small) of the streamed payload."""
        if n > self._streaming:
            raise WireError(ErrorCode.BAD_PAYLOAD, "MODEL: payload shorter than its head", fatal=False)
        if self._end - self._start < n:
            self._fill(n)
        data = bytes(self._view[self._start : self._start + n])
        self._start += n
        self._consume(data, n)
        return data

    def copy_payload(self, fd: int, n: int) -> None:
        """Write the next ``n`` bytes of the streamed payload to file descriptor ``fd``."""
        if n > self._streaming:
            raise ValueError("copy_payload past the end of the streamed payload")
        buffered = min(self._end - self._start, n)
        if buffered:
            chunk = self._view[self._start : self._start + buffered]
            _write_all(fd, chunk)
            self._start += buffered
            self._consume(chunk, buffered)
            n -= buffered
        if self._start == self._end:
            self._start = self._end = 0
        if not n:
            return
        if self._scratch is None or len(self._scratch) < min(n, UPLOAD_CHUNK):
            self._scratch = bytearray(min(n, UPLOAD_CHUNK))  # big reads: as fast as a raw transfer to a file
        view = memoryview(self._scratch)
        size = len(view)
        while n:
            got = self._upload_recv(view[: min(size, n)])
            chunk = view[:got]
            _write_all(fd, chunk)
            self._consume(chunk, got)
            n -= got

    def skip_payload(self) -> None:
        """Read and drop the rest of a streamed payload (a rejected upload)."""
        if self._scratch is None:
            self._scratch = bytearray(1 << 20)
        view = memoryview(self._scratch)
        while self._streaming:
            buffered = min(self._end - self._start, self._streaming)
            if buffered:
                self._consume(self._view[self._start : self._start + buffered], buffered)
                self._start += buffered
                continue
            self._start = self._end = 0
            got = self._upload_recv(view[: min(len(view), self._streaming)])
            self._consume(view[:got], got)

    def _upload_recv(self, view: memoryview) -> int:
        """Receive the next bytes of a streamed payload into ``view``: waiting past the upload's deadline or
        below its minimum rate is too slow, a closed stream ends the connection."""
        self._frame_wait(self._stream_size)
        try:
            got = self.stream.recv_into(view)
        except TimeoutError:
            if self.min_rate is None and self.deadline is None:
                raise
            raise self._too_slow(self._stream_size) from None
        if not got:
            raise ConnectionClosed(f"{self.stream.describe()} closed the connection during an upload")
        return got

    def _consume(self, chunk: Buffer, n: int) -> None:
        self._streaming -= n
        if not self._streaming and self._frame_t0:
            self._frame_done()
        if self._stream_crc is not None:
            self._stream_crc = zlib.crc32(chunk, self._stream_crc)
            if not self._streaming and self._stream_header is not None:
                if self._stream_crc != self._stream_header.payload_crc:
                    self._stream_crc = None
                    raise WireError(ErrorCode.BAD_CRC, "MODEL: payload CRC mismatch", fatal=False)
                self._stream_crc = None

    # -- unreliable links: stop-and-wait ARQ ----------------------------------------------------------

    def _send_arq(self, type: int, parts: Sequence[Buffer], request_id: int, flags: int) -> None:
        payload = b"".join(parts)
        if type == _HELLO and self.role == "host":  # a HELLO restarts the link's sequence numbers
            self._send_seq = 0
            self._expect = 0
            self._last_hello = None
            self._queue.clear()
            self._discard_input()
        seq = self._send_seq
        head = _HEAD.pack(
            MAGIC_U32, VERSION, type, flags | _CRC, seq, request_id, len(payload), zlib.crc32(payload)
        )
        frame = head + _U32.pack(zlib.crc32(head)) + payload
        wait = self.ack_timeout_s + (
            2 * len(frame) / self.stream.bytes_per_s if self.stream.bytes_per_s else 0
        )
        for attempt in range(self.retries + 1):
            if attempt:
                log.debug("retransmitting %s seq %d (try %d)", TYPE_NAMES.get(type, type), seq, attempt + 1)
            self.stream.send(frame)
            deadline = time.monotonic() + wait
            while True:
                kind, got = self._read_link_frame(deadline)
                if kind == "ack":
                    assert got is not None
                    if got.header.seq == seq:
                        self._send_seq = (seq + 1) & 0xFF
                        return
                    continue  # a late duplicate ACK
                if kind in ("nak", "timeout"):
                    break
                if kind == "corrupt":  # most likely our ACK: repeat now rather than wait for the timeout
                    self._send_control(_NAK, 0)
                    break
                assert got is not None
                if self.role == "target" and self._is_new_hello(got):
                    self._queue.appendleft(got)
                    raise LinkReset("a host started a new session (HELLO) on the link")
                delivered = self._accept(got)
                if delivered is not None:
                    if len(self._queue) >= 16:
                        raise LinkError("serial link: the peer sends without waiting for replies")
                    self._queue.append(delivered)
        raise LinkError(
            f"{self.stream.describe()}: {TYPE_NAMES.get(type, type)} was not acknowledged after "
            f"{self.retries + 1} tries; check the cable, baud rate and that the other side runs"
        )

    def _recv_arq(self) -> Frame:
        if self._queue:
            return self._queue.popleft()
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        while True:
            kind, got = self._read_link_frame(deadline)
            if kind == "timeout":
                raise TimeoutError(f"{self.stream.describe()}: nothing received for {self.timeout_s:g} s")
            if kind == "corrupt":
                self._send_control(_NAK, 0)
                continue
            if kind in ("ack", "nak"):
                continue  # stray: nothing of ours is outstanding
            assert got is not None
            delivered = self._accept(got)
            if delivered is not None:
                return delivered

    def _is_new_hello(self, frame: Frame) -> bool:
        h = frame.header
        return h.type == _HELLO and (h.payload_crc, h.length) != self._last_hello

    def _accept(self, frame: Frame) -> Frame | None:
        """Acknowledge a data frame; return it when it is new, None for a duplicate."""
        h = frame.header
        self._send_control(_ACK, h.seq)
        if self.role == "target" and h.type == _HELLO:
            key = (h.payload_crc, h.length)
            if key == self._last_hello:
                return None
            self._last_hello = key
            self._expect = (h.seq + 1) & 0xFF
            self._send_seq = 0
            return frame
        if h.seq == self._expect:
            self._expect = (h.seq + 1) & 0xFF
            return frame
        if h.seq == (self._expect - 1) & 0xFF:
            return None  # a retransmission whose ACK was lost
        log.debug("link resynchronised: expected seq %d, got %d", self._expect, h.seq)
        self._expect = (h.seq + 1) & 0xFF
        return frame

    def _send_control(self, type: int, seq: int) -> None:
        head = _HEAD.pack(MAGIC_U32, VERSION, type, _CRC, seq, 0, 0, 0)
        self.stream.send(head + _U32.pack(zlib.crc32(head)))

    def _read_link_frame(self, deadline: float | None) -> tuple[str, Frame | None]:
        """One frame from an unreliable link: ("ack"|"nak"|"data", frame), ("corrupt", None) after
        resynchronising, or ("timeout", None)."""
        try:
            self._fill_until(HEADER_SIZE, deadline)
        except TimeoutError:
            return "timeout", None
        try:
            header = decode_header(self._buf, self._start)
        except WireError:
            self._resync()
            return "corrupt", None
        if header.length > self.limit(header.type) or not header.flags & _CRC:
            self._resync()
            return "corrupt", None
        total = HEADER_SIZE + header.length
        frame_deadline = (
            time.monotonic()
            + self.ack_timeout_s
            + (2 * total / self.stream.bytes_per_s if self.stream.bytes_per_s else 0)
        )
        try:
            self._fill_until(total, frame_deadline if deadline is None else max(deadline, frame_deadline))
        except TimeoutError:
            self._resync()
            return "corrupt", None
        start = self._start + HEADER_SIZE
        payload = bytes(self._view[start : start + header.length])
        self._start = start + header.length
        if self._start == self._end:
            self._start = self._end = 0
        if zlib.crc32(payload) != header.payload_crc:
            self._resync()
            return "corrupt", None
        if header.type == _ACK:
            return "ack", Frame.of(header, payload)
        if header.type == _NAK:
            return "nak", None
        return "data", Frame.of(header, payload)

    def _fill_until(self, need: int, deadline: float | None) -> None:
        avail = self._end - self._start
        if avail >= need:
            return
        if self._start + need > len(self._buf):
            self._make_room(need, avail)
        while self._end - self._start < need:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.stream.settimeout(left)
            else:
                self.stream.settimeout(None)
            n = self.stream.recv_into(self._view[self._end :])
            if not n:
                raise ConnectionClosed(f"{self.stream.describe()} closed the connection")
            self._end += n

    def _resync(self) -> None:
        """Drop buffered bytes and whatever arrives until the line has been quiet for a moment."""
        self._start = self._end = 0
        quiet = 0.02 + (64 / self.stream.bytes_per_s if self.stream.bytes_per_s else 0)
        self._discard_input(quiet, limit_s=2.0)

    def _discard_input(self, quiet: float = 0.0, limit_s: float = 0.0) -> None:
        self._start = self._end = 0
        until = time.monotonic() + limit_s
        while True:
            self.stream.settimeout(quiet)
            try:
                n = self.stream.recv_into(self._view)
            except TimeoutError:
                return
            if not n or time.monotonic() > until:
                return


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exactly(fd: int, count: int) -> bytes:
    chunks = []
    while count:
        chunk = os.read(fd, count)
        if not chunk:
            raise OSError(f"file ended {count} bytes early")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)
