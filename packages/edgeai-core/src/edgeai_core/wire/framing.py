"""The frame: a fixed 24-byte header, then the payload. Byte layout in ``docs/protocol.md``.

Every integer is little-endian. The header carries its own CRC32, so a receiver never trusts a length (or a
type) read from a corrupted or foreign byte stream; the payload's CRC32 travels in the header too, set when
the ``CRC`` flag is (always on links that can corrupt bytes, such as serial lines, optional on TCP).

This module is pure Python (``struct`` and ``zlib``): a microcontroller implements the same 24 bytes.
"""

from __future__ import annotations

import enum
import struct
import zlib

#: The first four bytes of every frame: ASCII ``EDAI``.
MAGIC = b"EDAI"
MAGIC_U32 = int.from_bytes(MAGIC, "little")
#: The protocol version this implementation speaks (the header's version byte).
VERSION = 1
#: Header size in bytes; payloads start 8-byte aligned after it.
HEADER_SIZE = 24

# magic u32, version u8, type u8, flags u8, seq u8, request id u32, payload length u32, payload crc u32
_HEAD = struct.Struct("<IBBBBIII")
_U32 = struct.Struct("<I")
_FULL = struct.Struct("<IBBBBIIII")


class MessageType(enum.IntEnum):
    """The ``type`` byte. ACK and NAK exist only on unreliable links (serial) and never reach a session."""

    OK = 0x01
    ERROR = 0x02
    DATA = 0x03
    MODEL = 0x04
    PROCESS = 0x05
    OUTPUT = 0x06
    STATS = 0x07
    IOSPEC = 0x08
    HELLO = 0x09
    AUTH = 0x0A
    INFER = 0x0B
    BYE = 0x0C
    ACK = 0x7E
    NAK = 0x7F


#: Types by value, for names in messages (``MODEL``) and for membership tests.
TYPE_NAMES: dict[int, str] = {t.value: t.name for t in MessageType}


class Flag(enum.IntFlag):
    """The ``flags`` byte. Bits not named here are reserved and must be 0."""

    CRC = 0x01  # the payload CRC32 field is valid (mandatory on unreliable links)
    MORE = 0x02  # more chunks of this message follow (MODEL uploads)
    CONT = 0x04  # this frame continues a message begun by an earlier frame (MODEL uploads)


KNOWN_FLAGS = int(Flag.CRC | Flag.MORE | Flag.CONT)


class ErrorCode(enum.IntEnum):
    """Numeric codes of ERROR messages (u16). ``FATAL_CODES`` close the connection after the ERROR."""

    BAD_FRAME = 1  # bad magic, header CRC or reserved bits: the byte stream cannot be trusted
    UNSUPPORTED_VERSION = 2
    FRAME_TOO_LARGE = 3
    BAD_CRC = 4  # payload CRC mismatch
    UNKNOWN_TYPE = 5
    BAD_PAYLOAD = 6
    UNEXPECTED = 7  # a valid message at the wrong time (DATA before a model, OK from a host)
    AUTH_REQUIRED = 8
    AUTH_FAILED = 9
    BUSY = 10
    IDLE_TIMEOUT = 11
    UNSUPPORTED_FORMAT = 12
    BAD_NAME = 13
    MODEL_TOO_LARGE = 14
    NO_MODEL = 15
    RUNTIME_FAILURE = 16
    INTERNAL = 17
    HANDSHAKE_TIMEOUT = 18  # HELLO (and AUTH) did not complete within the target's handshake deadline
    FRAME_TIMEOUT = 19  # a frame that had begun did not arrive at the target's minimum rate
    NOT_ALLOWED = 20  # the operator did not allow it: a runtime parameter, a model digest
    QUOTA_EXCEEDED = 21  # the target's work directory has no room left under its quota
    BAD_DIGEST = 22  # an uploaded model file's size or SHA-256 is not what IOSPEC declared
    TOO_MANY_REQUESTS = 23  # more pipelined requests in flight than the target's --max-inflight


FATAL_CODES = frozenset(
    {
        ErrorCode.BAD_FRAME,
        ErrorCode.UNSUPPORTED_VERSION,
        ErrorCode.FRAME_TOO_LARGE,
        ErrorCode.AUTH_REQUIRED,
        ErrorCode.AUTH_FAILED,
        ErrorCode.BUSY,
        ErrorCode.IDLE_TIMEOUT,
        ErrorCode.HANDSHAKE_TIMEOUT,
        ErrorCode.FRAME_TIMEOUT,
        ErrorCode.TOO_MANY_REQUESTS,
    }
)


class WireError(Exception):
    """A protocol violation, carrying the ERROR code to answer with. ``fatal``: close the connection."""

    def __init__(self, code: ErrorCode, message: str, *, fatal: bool | None = None) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.fatal = code in FATAL_CODES if fatal is None else fatal


class FrameHeader:
    """A parsed header. ``length`` is the payload length, ``payload_crc`` valid when ``flags & CRC``."""

    __slots__ = ("flags", "length", "payload_crc", "request_id", "seq", "type")

    def __init__(
        self, type: int, flags: int, seq: int, request_id: int, length: int, payload_crc: int
    ) -> None:
        self.type = type
        self.flags = flags
        self.seq = seq
        self.request_id = request_id
        self.length = length
        self.payload_crc = payload_crc

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, f"0x{self.type:02x}")

    def __repr__(self) -> str:
        return (
            f"FrameHeader({self.type_name}, flags=0x{self.flags:02x}, seq={self.seq}, "
            f"id={self.request_id}, length={self.length})"
        )


def encode_header(
    type: int, length: int, *, request_id: int = 0, flags: int = 0, seq: int = 0, payload_crc: int = 0
) -> bytes:
    """The 24 header bytes, header CRC included."""
    head = _HEAD.pack(MAGIC_U32, VERSION, type, flags, seq, request_id & 0xFFFFFFFF, length, payload_crc)
    return head + _U32.pack(zlib.crc32(head))


def decode_header(data: bytes | bytearray | memoryview, offset: int = 0) -> FrameHeader:
    """Parse and check a header: magic, header CRC, version and reserved flag bits.

    Raises :class:`WireError` (``BAD_FRAME`` or ``UNSUPPORTED_VERSION``, both fatal). The payload length is
    checked against limits by the caller, who knows them.
    """
    magic, version, type_, flags, seq, rid, length, pcrc, hcrc = _FULL.unpack_from(data, offset)
    if magic != MAGIC_U32:
        raise WireError(ErrorCode.BAD_FRAME, "bad frame: the stream does not start with the magic 'EDAI'")
    if zlib.crc32(memoryview(data)[offset : offset + 20]) != hcrc:
        raise WireError(ErrorCode.BAD_FRAME, "bad frame: header CRC mismatch")
    if version != VERSION:
        raise WireError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version} is not supported; this side speaks version {VERSION}",
        )
    if flags & ~KNOWN_FLAGS:
        raise WireError(ErrorCode.BAD_FRAME, f"bad frame: reserved flag bits set (0x{flags:02x})")
    return FrameHeader(type_, flags, seq, rid, length, pcrc)


def crc32(parts: list[bytes | bytearray | memoryview] | tuple[bytes | bytearray | memoryview, ...]) -> int:
    """CRC32 (IEEE 802.3, as zlib computes it) over the concatenation of ``parts``."""
    value = 0
    for part in parts:
        value = zlib.crc32(part, value)
    return value


def encode_frame(
    type: int,
    payload: bytes | bytearray | memoryview = b"",
    *,
    request_id: int = 0,
    flags: int = 0,
    seq: int = 0,
    crc: bool = False,
) -> bytes:
    """A whole frame as bytes (tests, fuzzing, small control messages)."""
    if crc:
        flags |= Flag.CRC
    pcrc = zlib.crc32(payload) if flags & Flag.CRC else 0
    header = encode_header(type, len(payload), request_id=request_id, flags=flags, seq=seq, payload_crc=pcrc)
    return header + bytes(payload)
