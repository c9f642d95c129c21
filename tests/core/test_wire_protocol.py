"""The wire protocol's pieces, in-process: frames, tensors, messages, names, authentication, and the
connection layer (buffered receive, streamed uploads, scatter-gather sends, and CRC + ARQ on a lossy link).

The worked examples of docs/protocol.md are checked byte for byte against the implementation.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgeai_core.components import Stream
from edgeai_core.errors import UsageError
from edgeai_core.transports.tcp import TcpStream, is_loopback
from edgeai_core.wire import auth
from edgeai_core.wire import messages as msg
from edgeai_core.wire.codec import DTYPE_CODES, TensorLayout, decode_tensors, encode_tensors
from edgeai_core.wire.connection import Connection, LinkError
from edgeai_core.wire.framing import (
    _HEAD,
    _U32,
    HEADER_SIZE,
    MAGIC_U32,
    ErrorCode,
    Flag,
    MessageType,
    WireError,
    decode_header,
    encode_frame,
    encode_header,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def hexdump(data: bytes) -> str:
    return "\n".join(
        f"{i:04x}  " + " ".join(f"{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16)
    )


def tensors(arrays: list[np.ndarray]) -> bytes:
    return b"".join(bytes(p) for p in encode_tensors(arrays))


# -- the document --------------------------------------------------------------------------------------


def test_the_documented_examples_are_what_the_implementation_sends() -> None:
    doc = DOC.read_text(encoding="utf-8")
    x = np.array([[1, 2, 3, 4]], np.float32)
    examples = {
        "HELLO": encode_frame(MessageType.HELLO, msg.Hello(nonce=bytes(range(16)), software="edgeai").encode(),
                              request_id=1),
        "HELLO reply": encode_frame(MessageType.HELLO, msg.HelloReply(
            nonce=bytes(range(16, 32)), runtime="tflm", formats=("tflite",), max_frame_bytes=65536,
            max_model_bytes=1 << 20, software="fw 1.0").encode(), request_id=1),
        "INFER": encode_frame(MessageType.INFER, tensors([x]), request_id=2),
        "OUTPUT": encode_frame(MessageType.OUTPUT, msg.encode_u64(1500)
                               + tensors([np.array([[0.25, 0.75]], np.float32)]), request_id=2),
        "serial INFER": encode_frame(MessageType.INFER, tensors([x]), request_id=2, crc=True),
        "ACK": encode_frame(MessageType.ACK, b"", crc=True),
        "ERROR": encode_frame(MessageType.ERROR, msg.encode_error(15, "no model is loaded"), request_id=3),
        "companion MODEL": encode_frame(MessageType.MODEL, msg.encode_model_head(3, "w.bin") + b"\x01\x02\x03",
                                        request_id=4),
    }  # fmt: skip
    for name, frame in examples.items():
        assert hexdump(frame) in doc, f"the {name} example in docs/protocol.md is out of date"
    assert "0xa51247bd" in doc and zlib.crc32(tensors([x])) == 0xA51247BD
    assert msg.HELLO_MODEL_FILES == 0x0002 and "bit 1 = accepts models with companion files" in doc
    assert f"At most {msg.MAX_MODEL_FILES} entries" in doc
    assert zlib.crc32(b"123456789") == 0xCBF43926 and "0xCBF43926" in doc
    codes = {c.name: c.value for c in ErrorCode}
    for name, value in codes.items():
        assert f"| {value} | {name}" in doc, f"error code {name} is not documented"
    for t in MessageType:
        assert f"| 0x{t.value:02X} | {t.name} |" in doc, f"message type {t.name} is not documented"
    for code, name in DTYPE_CODES.items():
        assert f"| {code} | {name}" in doc


# -- frames --------------------------------------------------------------------------------------------


def test_header_round_trip() -> None:
    frame = encode_frame(MessageType.STATS, b"\x01", request_id=0xDEADBEEF, flags=Flag.MORE, seq=7, crc=True)
    header = decode_header(frame)
    assert (header.type, header.flags, header.seq) == (MessageType.STATS, Flag.MORE | Flag.CRC, 7)
    assert (header.request_id, header.length, header.payload_crc) == (0xDEADBEEF, 1, zlib.crc32(b"\x01"))
    assert header.type_name == "STATS" and "STATS" in repr(header)
    assert len(encode_header(1, 0)) == HEADER_SIZE == 24


@pytest.mark.parametrize(
    ("mutate", "code", "text"),
    [
        (lambda b: b"XDAI" + b[4:], ErrorCode.BAD_FRAME, "magic"),
        (lambda b: b[:12] + b"\xff" + b[13:], ErrorCode.BAD_FRAME, "header CRC"),
        (lambda b: _resign(b, version=2), ErrorCode.UNSUPPORTED_VERSION, "version 2"),
        (lambda b: _resign(b, flags=0x80), ErrorCode.BAD_FRAME, "reserved flag bits"),
    ],
)
def test_bad_headers_are_fatal_errors(mutate: Any, code: ErrorCode, text: str) -> None:
    with pytest.raises(WireError, match=text) as err:
        decode_header(mutate(encode_frame(MessageType.OK)))
    assert err.value.code == code and err.value.fatal


def _resign(frame: bytes, version: int = 1, flags: int = 0) -> bytes:
    head = _HEAD.pack(MAGIC_U32, version, frame[5], flags, 0, 0, 0, 0)
    return head + _U32.pack(zlib.crc32(head))


# -- tensors -------------------------------------------------------------------------------------------

DTYPES = [np.dtype(name) for name in DTYPE_CODES.values()]


@settings(max_examples=150, deadline=None)
@given(st.lists(hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=5, min_side=0,
                                                                      max_side=4)), max_size=4))  # fmt: skip
def test_tensors_round_trip_exactly_and_aligned(arrays: list[np.ndarray]) -> None:
    payload = bytearray(tensors(arrays))
    assert len(payload) % 8 == 0
    decoded = decode_tensors(payload)
    assert len(decoded) == len(arrays)
    for original, back in zip(arrays, decoded, strict=True):
        assert back.dtype == original.dtype and back.shape == original.shape
        np.testing.assert_array_equal(back, original)
        if back.size:
            address = back.__array_interface__["data"][0] - np.frombuffer(payload, np.uint8).ctypes.data
            assert address % 8 == 0, "tensor data starts 8-byte aligned in the payload"
    copies = decode_tensors(payload, copy=True)
    payload[:] = bytes(len(payload))
    for original, kept in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(kept, original)


def test_tensors_from_awkward_arrays() -> None:
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    big_endian = np.arange(5, dtype=">i4")
    decoded = decode_tensors(tensors([base.T, big_endian, np.float32(2.5), [[1, 2]]]))
    np.testing.assert_array_equal(decoded[0], base.T)
    assert decoded[1].dtype == np.dtype("<i4") and list(decoded[1]) == [0, 1, 2, 3, 4]
    assert decoded[2].shape == () and decoded[2] == 2.5
    assert decoded[3].dtype == np.int64
    with pytest.raises(ValueError, match="cannot travel on the wire"):
        encode_tensors([np.array(["text"])])
    with pytest.raises(ValueError, match="at most 64 tensors"):
        encode_tensors([np.zeros(1)] * 65)


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"\x01\x00\x00", "truncated before its 8-byte header"),
        (b"\x01\x00\x00\x00\x05\x00\x00\x00", "reserved field"),
        (b"\x41\x00\x00\x00\x00\x00\x00\x00", "65 tensors, at most 64"),
        (b"\x01\x00\x00\x00\x00\x00\x00\x00\x04\x01\x00\x00\x01\x00\x00\x00", "unknown dtype code 4"),
        (b"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x09\x00\x00", "ndim 9"),
        (b"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x02\x00\x00\x00", "needs 8 bytes, 0 remain"),
        (b"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00", "truncated dimensions"),
    ],
)
def test_malformed_tensor_lists_name_the_problem(payload: bytes, text: str) -> None:
    with pytest.raises(WireError, match=text) as err:
        decode_tensors(payload)
    assert err.value.code == ErrorCode.BAD_PAYLOAD and not err.value.fatal


def test_trailing_bytes_and_header_padding_are_rejected() -> None:
    good = tensors([np.ones((1, 2), np.float32)])
    with pytest.raises(WireError, match="8 bytes after the last tensor"):
        decode_tensors(good + bytes(8))
    with pytest.raises(WireError, match="header padding"):
        decode_tensors(good[:20] + b"\x01" + good[21:])


def test_layout_cache_matches_only_the_same_layout() -> None:
    a = bytearray(tensors([np.ones((2, 3), np.float32)]))
    layout = TensorLayout(a, decode_tensors(a))
    b = memoryview(bytearray(tensors([np.full((2, 3), 7, np.float32)])))
    assert layout.matches(b)
    np.testing.assert_array_equal(layout.arrays(b)[0], np.full((2, 3), 7, np.float32))
    assert not layout.matches(memoryview(tensors([np.ones((3, 2), np.float32)])))
    assert not layout.matches(memoryview(tensors([np.ones((2, 3), np.int32)])))
    assert not layout.matches(memoryview(tensors([np.ones((2, 4), np.float32)])))


# -- messages ------------------------------------------------------------------------------------------


@given(st.text(max_size=60), st.text(min_size=1, max_size=20), st.lists(st.text(max_size=20), max_size=5),
       st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.booleans())  # fmt: skip
def test_hello_round_trips(
    software: str, runtime: str, formats: list[str], frame: int, model: int, auth_: bool
) -> None:
    nonce = bytes(range(16))
    assert msg.Hello.decode(msg.Hello(nonce=nonce, software=software).encode()).software == software
    reply = msg.HelloReply(nonce=nonce, runtime=runtime, formats=tuple(formats), max_frame_bytes=frame,
                           max_model_bytes=model, auth_required=auth_, software=software)  # fmt: skip
    assert msg.HelloReply.decode(reply.encode()) == reply


def test_message_decoders_are_strict() -> None:
    hello = msg.Hello(nonce=bytes(16), software="x").encode()
    with pytest.raises(WireError, match="trailing"):
        msg.Hello.decode(hello + b"!")
    with pytest.raises(WireError, match="too short"):
        msg.Hello.decode(hello[:10])
    with pytest.raises(WireError, match="min_version 2 > max_version 1"):
        msg.Hello.decode(b"\x02\x00\x01\x00" + hello[4:])
    with pytest.raises(WireError, match="not valid UTF-8"):
        msg.Hello.decode(hello[:-2] + b"\x01\xff")
    with pytest.raises(WireError, match="must be an object"):
        msg.decode_json_object(b"[1]", "IOSPEC")
    with pytest.raises(WireError, match="not valid UTF-8 JSON"):
        msg.decode_json_object(b"[" * 100_000, "IOSPEC")
    assert msg.decode_error(b"\x05") == (ErrorCode.INTERNAL, "(malformed ERROR message)")
    long = msg.encode_error(6, "é" * 5000)
    assert len(long) <= 2 + msg.MAX_ERROR_MESSAGE and msg.decode_error(long)[1].endswith("...")
    assert msg.decode_stats_request(msg.encode_stats_request(1, 0.01)) == (1, 10_000)
    assert msg.decode_stats_request(b"") == (0, 0) and msg.decode_stats_request(b"\x02") == (2, 0)
    assert msg.decode_stats_request(msg.encode_stats_request(3, runs=7)) == (msg.STATS_PROFILE, 7)
    with pytest.raises(WireError, match="unknown action 4"):
        msg.decode_stats_request(b"\x04")


@pytest.mark.parametrize("name", ["model.onnx", "m-1_2.npz", "Ünïcode.tflite", "a.b.c", "x" * 200])
def test_plain_names_are_accepted(name: str) -> None:
    assert msg.check_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [("", "is empty"), ("x" * 201, "longer than 200"), ("a/b", "path separator"), ("a\\b", "path separator"),
     ("/abs", "path separator"), ("..", "'..'"), ("a..b", "'..'"), ("n\0l", "NUL"), ("t\tab", "control"),
     (".hidden", "starts with '.'"), ("~x", "starts with '.' or '~'"), ("m.edgeai.json", "sidecars"),
     ("C:evil", "drive")],
)  # fmt: skip
def test_unsafe_names_are_rejected_with_the_rule(name: str, rule: str) -> None:
    with pytest.raises(WireError, match=rule) as err:
        msg.check_name(name)
    assert err.value.code == ErrorCode.BAD_NAME


# -- authentication -----------------------------------------------------------------------------------


def test_proofs_depend_on_direction_token_and_both_nonces() -> None:
    token, a, b = b"t" * 32, bytes(16), bytes(range(16))
    host = auth.host_proof(token, a, b)
    assert len(host) == 32 and auth.verify(host, auth.host_proof(token, a, b))
    assert host != auth.target_proof(token, b, a), "the two directions differ (no reflection)"
    assert host != auth.host_proof(token, b, a) and host != auth.host_proof(b"u" * 32, a, b)
    assert not auth.verify(host, host[:-1] + b"\0")


def test_token_files(tmp_path: Path) -> None:
    path = tmp_path / "token"
    token = auth.write_token(path)
    assert (path.stat().st_mode & 0o777) == 0o600 and auth.read_token(path) == token and len(token) == 64
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(UsageError, match="has 3 bytes; use at least 16"):
        auth.read_token(tmp_path / "short", "target.token_file")
    with pytest.raises(UsageError, match=r"target\.token_file: cannot read the token file"):
        auth.read_token(tmp_path / "missing", "target.token_file")


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert (
        not is_loopback("0.0.0.0")
        and not is_loopback("192.0.2.1")
        and not is_loopback("no.such.host.invalid")
    )


# -- the connection layer ------------------------------------------------------------------------------


def pair() -> tuple[Connection, Connection]:
    a, b = socket.socketpair()
    host = Connection(TcpStream(a, "a"), role="host", buffer_bytes=4096)
    target = Connection(TcpStream(b, "b"), role="target", buffer_bytes=4096)
    host.set_timeout(10)
    target.set_timeout(10)
    return host, target


def test_frames_larger_than_the_buffer_and_read_ahead() -> None:
    host, target = pair()
    big = os.urandom(100_000)
    sender = threading.Thread(
        target=lambda: [
            host.send(MessageType.DATA, [big[:10], memoryview(big)[10:]], request_id=i) for i in range(3)
        ]
    )
    sender.start()
    for i in range(3):
        frame = target.recv()
        assert frame.request_id == i and bytes(frame.payload) == big  # type: ignore[arg-type]
    sender.join()
    for i in range(20):  # many small frames: read ahead in one recv
        host.send(MessageType.STATS, [bytes([i % 3])], request_id=i)
    assert [bytes(target.recv().payload)[0] for _ in range(20)] == [i % 3 for i in range(20)]  # type: ignore[index]


def test_payload_crc_is_checked_on_tcp_when_flagged() -> None:
    host, target = pair()
    frame = bytearray(encode_frame(MessageType.DATA, b"12345678", crc=True))
    frame[-1] ^= 1
    host.stream.send(bytes(frame))
    with pytest.raises(WireError, match="payload CRC mismatch") as err:
        target.recv()
    assert not err.value.fatal
    host.send(MessageType.OK, [b"fine"], flags=Flag.CRC)
    assert bytes(target.recv().payload) == b"fine"  # type: ignore[arg-type]


def test_streamed_model_payload_goes_to_a_file(tmp_path: Path) -> None:
    host, target = pair()
    data = os.urandom(3 * 2**20 + 11)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    head = msg.encode_model_head(len(data), "model.bin")

    def send() -> None:
        with source.open("rb") as handle:
            host.send_file(MessageType.MODEL, head, handle, 0, len(data), request_id=9)

    sender = threading.Thread(target=send)
    sender.start()
    frame = target.recv()
    assert frame.payload is None and target.streaming == len(head) + len(data)
    assert target.read_payload(len(head)) == head
    fd = os.open(tmp_path / "copy.bin", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        target.copy_payload(fd, target.streaming)
    finally:
        os.close(fd)
    sender.join()
    assert (tmp_path / "copy.bin").read_bytes() == data and target.streaming == 0


def test_frames_over_the_limit_are_refused_before_reading() -> None:
    host, target = pair()
    target.max_frame = 100
    host.stream.send(encode_header(MessageType.DATA, 101))
    with pytest.raises(WireError, match="DATA payload of 101 bytes exceeds the limit of 100 bytes") as err:
        target.recv()
    assert err.value.code == ErrorCode.FRAME_TOO_LARGE and err.value.fatal


class LossyStream(Stream):
    """One end of a socketpair that flips bits in what it sends (seeded), like a noisy serial line."""

    reliable = False
    bytes_per_s = None

    def __init__(self, sock: socket.socket, rng: random.Random, rate: float) -> None:
        self.inner = TcpStream(sock, "lossy")
        self.rng = rng
        self.rate = rate
        self.flipped = 0

    def send(self, *parts: Any) -> None:
        data = bytearray(b"".join(bytes(p) for p in parts))
        if data and self.rng.random() < self.rate:
            bit = self.rng.randrange(len(data) * 8)
            data[bit // 8] ^= 1 << (bit % 8)
            self.flipped += 1
        self.inner.send(bytes(data))

    def recv_into(self, buffer: memoryview) -> int:
        return self.inner.recv_into(buffer)

    def settimeout(self, seconds: float | None) -> None:
        self.inner.settimeout(seconds)

    def describe(self) -> str:
        return "lossy"

    def close(self) -> None:
        self.inner.close()


def test_arq_delivers_every_frame_once_and_in_order_over_a_lossy_link() -> None:
    a, b = socket.socketpair()
    host_stream = LossyStream(a, random.Random(1), 0.15)
    target_stream = LossyStream(b, random.Random(2), 0.15)
    host = Connection(host_stream, role="host", ack_timeout_s=0.05, retries=30)
    target = Connection(target_stream, role="target", ack_timeout_s=0.05, retries=30)
    host.timeout_s = target.timeout_s = 10
    received: list[bytes] = []

    def serve() -> None:
        for _ in range(120):
            frame = target.recv()
            received.append(bytes(frame.payload))  # type: ignore[arg-type]
            target.send(MessageType.OK, [bytes(frame.payload)[::-1]], request_id=frame.request_id)  # type: ignore[arg-type]

    worker = threading.Thread(target=serve)
    worker.start()
    replies = []
    host.send(MessageType.HELLO, [b"hello"], request_id=0)
    for i in range(1, 120):
        reply = host.recv()
        replies.append(bytes(reply.payload))  # type: ignore[arg-type]
        host.send(MessageType.DATA, [f"frame {i}".encode()], request_id=i)
    replies.append(bytes(host.recv().payload))  # type: ignore[arg-type]
    worker.join(timeout=60)
    assert received == [b"hello"] + [f"frame {i}".encode() for i in range(1, 120)]
    assert replies == [p[::-1] for p in received]
    assert host_stream.flipped > 5 and target_stream.flipped > 5, "corruption really happened"


def test_arq_gives_up_after_the_retries() -> None:
    a, b = socket.socketpair()
    host = Connection(LossyStream(a, random.Random(0), 0.0), role="host", ack_timeout_s=0.01, retries=2)
    with pytest.raises(LinkError, match="not acknowledged after 3 tries"):
        host.send(MessageType.HELLO, [b"anyone?"])
    b.close()


def test_a_new_hello_restarts_the_link() -> None:
    a, b = socket.socketpair()
    target = Connection(LossyStream(b, random.Random(0), 0.0), role="target", ack_timeout_s=0.2)
    target.timeout_s = 5
    received: list[bytes] = []
    worker = threading.Thread(
        target=lambda: [received.append(bytes(target.recv().payload)) for _ in range(6)]
    )  # type: ignore[arg-type]
    worker.start()
    first = Connection(LossyStream(a, random.Random(0), 0.0), role="host", ack_timeout_s=0.2)
    first.send(MessageType.HELLO, [b"one"])
    for i in range(3):
        first.send(MessageType.DATA, [bytes([i])])
    again = Connection(first.stream, role="host", ack_timeout_s=0.2)  # a restarted host: counters at 0
    again.send(MessageType.HELLO, [b"two"])
    again.send(MessageType.DATA, [b"x"])
    worker.join(timeout=10)
    assert received == [b"one", b"\0", b"\1", b"\2", b"two", b"x"]
