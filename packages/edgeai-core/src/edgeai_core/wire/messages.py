"""Payloads of the control messages (HELLO, AUTH, ERROR, MODEL, OK, STATS), byte by byte.

Strings are ``str8``: a u8 length and that many UTF-8 bytes. Decoders are strict: a payload that is too
short, too long, or holds invalid UTF-8 raises :class:`~edgeai_core.wire.framing.WireError` with code
``BAD_PAYLOAD``, so a malformed message is answered by ERROR, never by a crash.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgeai_core.wire.framing import VERSION, ErrorCode, WireError

NONCE_SIZE = 16
MAC_SIZE = 32
#: HELLO reply flag: the target requires AUTH before anything else.
HELLO_AUTH_REQUIRED = 0x0001
#: HELLO reply flag: the target accepts models with companion files (IOSPEC ``files``, one MODEL per file).
HELLO_MODEL_FILES = 0x0002
#: HELLO reply flag: the target takes pipelined requests; a u16 after the software string says how many a host
#: may keep in flight (sent only to hosts that set :data:`HOST_PIPELINING`).
HELLO_PIPELINING = 0x0004
#: HELLO capability of a host: it understands the pipelining flag and field of the HELLO reply.
HOST_PIPELINING = 0x0001
#: The most companion files one IOSPEC may declare.
MAX_MODEL_FILES = 64
#: STATS request actions (the payload's single byte; an empty payload means REPORT).
STATS_REPORT, STATS_START, STATS_STOP = 0, 1, 2
#: STATS action: profile the loaded model per layer on the inputs of the last DATA (the u32 is the run count);
#: the reply's JSON gains ``profile`` (:mod:`edgeai_core.profiling`)
STATS_PROFILE = 3
#: Longest ERROR message sent (bytes of UTF-8); longer ones are cut.
MAX_ERROR_MESSAGE = 2048
#: Longest model file name (bytes of UTF-8): its sidecar, and that sidecar's temporary file while it is
#: written, must still fit the 255 bytes file systems allow.
MAX_NAME = 200
#: Largest IOSPEC or STATS JSON document accepted (bytes).
MAX_JSON = 1 << 20

_U16 = struct.Struct("<H")
_U64 = struct.Struct("<Q")
_HELLO = struct.Struct("<HHI16s")
_HELLO_REPLY = struct.Struct("<HHIQ16s")
_MODEL_HEAD = struct.Struct("<Q")
_TWO_U64 = struct.Struct("<QQ")


class Reader:
    """Reads fields from a payload, raising BAD_PAYLOAD (naming ``what``) when it runs short."""

    __slots__ = ("pos", "view", "what")

    def __init__(self, payload: bytes | bytearray | memoryview, what: str) -> None:
        self.view = memoryview(payload)
        self.pos = 0
        self.what = what

    def _need(self, n: int) -> None:
        if len(self.view) - self.pos < n:
            raise WireError(ErrorCode.BAD_PAYLOAD, f"{self.what}: payload too short")

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        self._need(fmt.size)
        values = fmt.unpack_from(self.view, self.pos)
        self.pos += fmt.size
        return values

    def u8(self) -> int:
        self._need(1)
        value = self.view[self.pos]
        self.pos += 1
        return value

    def raw(self, n: int) -> bytes:
        self._need(n)
        data = bytes(self.view[self.pos : self.pos + n])
        self.pos += n
        return data

    def str8(self) -> str:
        data = self.raw(self.u8())
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError(ErrorCode.BAD_PAYLOAD, f"{self.what}: a string is not valid UTF-8") from None

    def rest(self) -> memoryview:
        data = self.view[self.pos :]
        self.pos = len(self.view)
        return data

    def end(self) -> None:
        if self.pos != len(self.view):
            raise WireError(
                ErrorCode.BAD_PAYLOAD, f"{self.what}: {len(self.view) - self.pos} unexpected trailing bytes"
            )


def str8(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 255:
        raise ValueError(f"string of {len(data)} bytes does not fit a str8 (at most 255): {text[:40]!r}...")
    return bytes([len(data)]) + data


@dataclass(frozen=True)
class Hello:
    """HELLO from the host: the versions it speaks, its nonce for authentication, its software."""

    nonce: bytes
    software: str = ""
    min_version: int = VERSION
    max_version: int = VERSION
    capabilities: int = 0

    def encode(self) -> bytes:
        head = _HELLO.pack(self.min_version, self.max_version, self.capabilities, self.nonce)
        return head + str8(self.software)

    @classmethod
    def decode(cls, payload: bytes | bytearray | memoryview) -> Hello:
        reader = Reader(payload, "HELLO")
        low, high, caps, nonce = reader.unpack(_HELLO)
        software = reader.str8()
        reader.end()
        if low > high:
            raise WireError(ErrorCode.BAD_PAYLOAD, f"HELLO: min_version {low} > max_version {high}")
        return cls(nonce=nonce, software=software, min_version=low, max_version=high, capabilities=caps)


@dataclass(frozen=True)
class HelloReply:
    """HELLO from the target: chosen version, whether AUTH is required, limits, runtime and formats."""

    nonce: bytes
    runtime: str
    formats: tuple[str, ...]
    max_frame_bytes: int
    max_model_bytes: int
    auth_required: bool = False
    software: str = ""
    version: int = VERSION
    model_files: bool = False
    #: the most requests in flight (sent when > 0, with flag HELLO_PIPELINING); 0: not announced
    max_inflight: int = 0

    def encode(self) -> bytes:
        flags = (
            (HELLO_AUTH_REQUIRED if self.auth_required else 0)
            | (HELLO_MODEL_FILES if self.model_files else 0)
            | (HELLO_PIPELINING if self.max_inflight else 0)
        )
        parts = [
            _HELLO_REPLY.pack(self.version, flags, self.max_frame_bytes, self.max_model_bytes, self.nonce),
            str8(self.runtime),
            bytes([len(self.formats)]),
            *(str8(f) for f in self.formats),
            str8(self.software),
        ]
        if self.max_inflight:
            parts.append(_U16.pack(min(self.max_inflight, 0xFFFF)))
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes | bytearray | memoryview) -> HelloReply:
        reader = Reader(payload, "HELLO reply")
        version, flags, max_frame, max_model, nonce = reader.unpack(_HELLO_REPLY)
        runtime = reader.str8()
        formats = tuple(reader.str8() for _ in range(reader.u8()))
        software = reader.str8()
        max_inflight = reader.unpack(_U16)[0] if flags & HELLO_PIPELINING else 0
        reader.end()
        return cls(
            nonce=nonce,
            runtime=runtime,
            formats=formats,
            max_frame_bytes=max_frame,
            max_model_bytes=max_model,
            auth_required=bool(flags & HELLO_AUTH_REQUIRED),
            software=software,
            version=version,
            model_files=bool(flags & HELLO_MODEL_FILES),
            max_inflight=max_inflight,
        )


def encode_error(code: int, message: str) -> bytes:
    data = message.encode("utf-8")
    if len(data) > MAX_ERROR_MESSAGE:
        data = data[: MAX_ERROR_MESSAGE - 3].decode("utf-8", "ignore").encode("utf-8") + b"..."
    return _U16.pack(code) + data


def decode_error(payload: bytes | bytearray | memoryview) -> tuple[int, str]:
    """(code, message) of an ERROR payload; a malformed one still gives something readable."""
    view = memoryview(payload)
    if len(view) < 2:
        return int(ErrorCode.INTERNAL), "(malformed ERROR message)"
    code = _U16.unpack_from(view)[0]
    return code, bytes(view[2:]).decode("utf-8", "replace")


def encode_model_head(total_size: int, name: str) -> bytes:
    """The start of the first MODEL chunk: u64 total size, str8 file name; the file's bytes follow."""
    return _MODEL_HEAD.pack(total_size) + str8(name)


def decode_model_head(payload: bytes | bytearray | memoryview) -> tuple[int, str, int]:
    """(total size, name, offset of the file's first byte in ``payload``)."""
    reader = Reader(payload, "MODEL")
    (total,) = reader.unpack(_MODEL_HEAD)
    name = reader.str8()
    return total, name, reader.pos


def model_head_size(payload_prefix: bytes | bytearray | memoryview) -> int:
    """Size of the MODEL head given at least its first 9 bytes."""
    return 9 + memoryview(payload_prefix)[8]


def check_name(name: str) -> str:
    """Accept only a plain file name: no path separators, ``..``, NUL or control characters, not absolute,
    not hidden, not a sidecar. Raises BAD_NAME naming the rule broken."""
    problem = None
    if not name:
        problem = "is empty"
    elif len(name.encode("utf-8")) > MAX_NAME:
        problem = f"is longer than {MAX_NAME} bytes"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator"
    elif name in (".", "..") or ".." in name:
        problem = "contains '..'"
    elif "\0" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "contains NUL or a control character"
    elif name.startswith(".") or name.startswith("~"):
        problem = "starts with '.' or '~'"
    elif name.endswith(".edgeai.json"):
        problem = "ends with .edgeai.json (reserved for sidecars)"
    elif len(name) >= 2 and name[1] == ":":
        problem = "looks like a drive path"
    if problem:
        raise WireError(
            ErrorCode.BAD_NAME, f"model name {name!r} {problem}; send a plain file name such as 'model.onnx'"
        )
    return name


#: Shortest resource sampling interval a host may ask for.
MIN_SAMPLE_INTERVAL_S = 0.005
_STATS_START = struct.Struct("<BxxxI")


_CPU_ID = struct.Struct("<H")


def encode_stats_request(
    action: int, interval_s: float | None = None, cpus: Sequence[int] | None = None, runs: int | None = None
) -> bytes:
    """STATS request: one action byte; START may add the sampling interval (u32 microseconds, 0: the
    target's) and then the CPU ids (u16 each) to pin the target's runtime to while the window is open;
    PROFILE may add the number of runs (u32)."""
    if action == STATS_START and (interval_s or cpus):
        head = _STATS_START.pack(action, min(0xFFFFFFFF, round((interval_s or 0) * 1e6)))
        return head + b"".join(_CPU_ID.pack(c) for c in cpus or ())
    if action == STATS_PROFILE and runs:
        return _STATS_START.pack(action, min(0xFFFFFFFF, int(runs)))
    return bytes([action])


def decode_stats_affinity(payload: bytes | bytearray | memoryview) -> list[int] | None:
    """The CPU ids a STATS START asks the target to pin its runtime to (None: leave it unpinned)."""
    view = memoryview(payload)
    if len(view) <= _STATS_START.size:
        return None
    return [_CPU_ID.unpack_from(view, at)[0] for at in range(_STATS_START.size, len(view), _CPU_ID.size)]


def decode_stats_request(payload: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(action, its u32 argument or 0) of a STATS request: the sampling interval in microseconds for START,
    the run count for PROFILE."""
    view = memoryview(payload)
    if len(view) == 0:
        return STATS_REPORT, 0
    action = view[0]
    if action > STATS_PROFILE:
        raise WireError(
            ErrorCode.BAD_PAYLOAD, f"STATS: unknown action {action} (0 report, 1 start, 2 stop, 3 profile)"
        )
    if len(view) == 1:
        return action, 0
    if len(view) == _STATS_START.size and action == STATS_PROFILE and not any(view[1:4]):
        return action, _STATS_START.unpack_from(view)[1]
    extra = len(view) - _STATS_START.size
    if extra >= 0 and extra % _CPU_ID.size == 0 and action == STATS_START and not any(view[1:4]):
        return action, _STATS_START.unpack_from(view)[1]
    raise WireError(
        ErrorCode.BAD_PAYLOAD,
        "STATS: payload must be 1 byte, or 8 for START with an interval (then 2 per CPU id to pin to) or for "
        "PROFILE with runs",
    )


def encode_u64(value: int) -> bytes:
    return _U64.pack(value)


def decode_u64(payload: bytes | bytearray | memoryview, what: str) -> int:
    reader = Reader(payload, what)
    (value,) = reader.unpack(_U64)
    reader.end()
    return int(value)


def encode_two_u64(a: int, b: int) -> bytes:
    return _TWO_U64.pack(a, b)


def decode_two_u64(payload: bytes | bytearray | memoryview, what: str) -> tuple[int, int]:
    reader = Reader(payload, what)
    a, b = reader.unpack(_TWO_U64)
    reader.end()
    return int(a), int(b)


def encode_json(document: Any) -> bytes:
    return json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8")


def decode_json_object(payload: bytes | bytearray | memoryview, what: str) -> dict[str, Any]:
    if len(payload) > MAX_JSON:
        raise WireError(ErrorCode.BAD_PAYLOAD, f"{what}: JSON document larger than {MAX_JSON} bytes")
    try:
        document = json.loads(bytes(payload).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(ErrorCode.BAD_PAYLOAD, f"{what}: not valid UTF-8 JSON ({exc})") from None
    if not isinstance(document, dict):
        raise WireError(ErrorCode.BAD_PAYLOAD, f"{what}: the JSON document must be an object")
    return document
