"""Fuzzing a live `edgeai serve`: more than 10,000 malformed, truncated, oversized and bit-flipped frames.

Every frame must be answered by ERROR (never INTERNAL, which would mean an unhandled path) or by a closed
connection; a fatal ERROR (the byte stream can no longer be trusted) is followed by the close. Afterwards a
well-behaved client gets correct outputs from the same server process: it survived all of it.

Non-fatal frames are pipelined in batches on one connection (one reply each, in order); each batch may end
with one fatal or truncated frame, after which the client reconnects.
"""

from __future__ import annotations

import os
import random
import struct
import sys
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "support"))
from edgeai_wire_testing import RawClient, error_of, reference, serving, upload_raw, write_mlp

from edgeai_core.wire import messages as msg
from edgeai_core.wire.codec import encode_tensors
from edgeai_core.wire.framing import (
    _HEAD,
    _U32,
    FATAL_CODES,
    HEADER_SIZE,
    MAGIC_U32,
    ErrorCode,
    Flag,
    MessageType,
    encode_frame,
    encode_header,
)

pytestmark = pytest.mark.subprocess

FEATURES = 6
MAX_FRAME = 64 * 1024
KNOWN = {int(t) for t in MessageType}
TARGET_ONLY = [MessageType.OK, MessageType.ERROR, MessageType.OUTPUT, MessageType.ACK, MessageType.NAK]
TRAVERSAL = ["../evil.npz", "..", "a/b.npz", "/etc/passwd", "C:\\x.npz", "x\0.npz", ".hidden", "m.npz.edgeai.json",
             "sub\\..\\x", "", "~root", "a" * 300, "line\nbreak"]  # fmt: skip
ALLOWED = {c.value for c in ErrorCode} - {ErrorCode.INTERNAL}


class Tally:
    frames = 0
    errors = 0
    closed = 0
    codes: ClassVar[dict[int, int]] = {}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("fuzz")
    artifact = write_mlp(root / "mlp.npz", features=FEATURES)
    args = ["--protocol", "tcp", "--runtime", "numpy", "--port", "0", "--max-frame-mb", str(MAX_FRAME / 2**20),
            "--max-model-mb", "1", "--idle-timeout-s", "20"]  # fmt: skip
    with serving(args, root / "serve") as server:
        yield server, artifact


def _session(port: int, artifact: Any, loaded: bool) -> RawClient:
    client = RawClient(port)
    client.hello()
    if loaded:
        header, payload = upload_raw(client, artifact)
        assert header.type == MessageType.OK, error_of(payload)
    return client


def _expect_error(client: RawClient, what: str) -> int:
    reply = client.read()
    Tally.frames += 1
    if reply is None:
        Tally.closed += 1
        return -1
    header, payload = reply
    assert header.type == MessageType.ERROR, f"{what}: got {header.type_name}"
    code, _ = error_of(payload)
    assert code in ALLOWED, f"{what}: code {code}: {error_of(payload)[1]}"
    Tally.errors += 1
    Tally.codes[code] = Tally.codes.get(code, 0) + 1
    return code


def run_batch(
    port: int, artifact: Any, frames: list[bytes], last: bytes | None, truncate: bool, loaded: bool
) -> None:
    """Pipeline non-fatal ``frames`` on one session, then send ``last`` (fatal, or truncated + EOF)."""
    client = _session(port, artifact, loaded)
    try:
        if frames:
            client.send(b"".join(frames))
            for i in range(len(frames)):
                code = _expect_error(client, f"frame {i} of a batch")
                assert code not in FATAL_CODES or code == -1, f"frame {i}: fatal {ErrorCode(code).name}"
        if last is not None:
            client.send(last)
            if truncate:
                client.shutdown_write()
            code = _expect_error(client, "last frame")
            if code != -1:
                assert code in FATAL_CODES or truncate, ErrorCode(code).name
                assert client.read() is None, "the server must close after a fatal ERROR"
    finally:
        client.close()


# -- strategies ----------------------------------------------------------------------------------------

payloads = st.binary(max_size=300)
request_ids = st.integers(0, 2**32 - 1)


def frame_of(type_: int, payload: bytes, rid: int = 7, flags: int = 0) -> bytes:
    return encode_frame(type_, payload, request_id=rid, flags=flags)


@st.composite
def tensor_garbage(draw: st.DrawFn) -> bytes:
    """Tensor lists that cannot be valid model inputs (wrong layout, codes, sizes, shapes)."""
    kind = draw(st.sampled_from(["random", "truncated", "bad-code", "ndim", "reserved", "trailing", "count",
                                 "wrong-shape", "wrong-dtype", "two-inputs"]))  # fmt: skip
    good = b"".join(bytes(p) for p in encode_tensors([np.ones((2, FEATURES), np.float32)]))
    if kind == "random":
        data = draw(payloads)
        if data == good:
            data += b"x"
        return data
    if kind == "truncated":
        return good[: draw(st.integers(0, len(good) - 1))]
    if kind == "bad-code":
        code = draw(st.sampled_from([0, 4, 14, 200, 255]))
        return good[:8] + bytes([code]) + good[9:]
    if kind == "ndim":
        return good[:9] + bytes([draw(st.integers(9, 255))]) + good[10:]
    if kind == "reserved":
        return good[:4] + struct.pack("<I", draw(st.integers(1, 2**32 - 1))) + good[8:]
    if kind == "trailing":
        return good + draw(st.binary(min_size=1, max_size=16))
    if kind == "count":
        return struct.pack("<II", draw(st.integers(65, 2**32 - 1)), 0) + good[8:]
    if kind == "wrong-shape":
        width = draw(st.integers(1, 40).filter(lambda w: w != FEATURES))
        arrays = [np.zeros((draw(st.integers(1, 3)), width), np.float32)]
    elif kind == "wrong-dtype":
        dtype = draw(st.sampled_from(["float64", "int32", "uint8", "bool", "float16"]))
        arrays = [np.zeros((1, FEATURES), dtype)]
    else:
        arrays = [np.zeros((1, FEATURES), np.float32)] * 2
    return b"".join(bytes(p) for p in encode_tensors(arrays))


@st.composite
def nonfatal_frame(draw: st.DrawFn) -> bytes:
    """A well-delimited frame that must be answered by a (non-fatal) ERROR."""
    kind = draw(st.sampled_from(["unknown", "target-only", "hello-again", "auth", "iospec", "model-name",
                                 "model-size", "model-cont", "model-head", "data", "infer", "process",
                                 "output", "stats", "payload-crc"]))  # fmt: skip
    rid = draw(request_ids)
    if kind == "unknown":
        type_ = draw(st.integers(0, 255).filter(lambda t: t not in KNOWN))
        return frame_of(type_, draw(payloads), rid)
    if kind == "target-only":
        return frame_of(draw(st.sampled_from(TARGET_ONLY)), draw(payloads), rid)
    if kind == "hello-again":
        return frame_of(MessageType.HELLO, draw(payloads), rid)
    if kind == "auth":
        return frame_of(MessageType.AUTH, draw(payloads), rid)
    if kind == "iospec":
        choice = draw(st.sampled_from(["random", "array", "format", "io", "runtime"]))
        if choice == "random":
            data = draw(st.binary(min_size=1, max_size=200))
        elif choice == "array":
            data = b"[1, 2, 3]"
        elif choice == "format":
            data = msg.encode_json({"format": draw(st.sampled_from(["onnx", "tflite", "", "npz"])), "io": {}})
        elif choice == "io":
            data = msg.encode_json(
                {"format": "npz-mlp", "io": draw(st.sampled_from([None, 3, "x", {"inputs": 5}]))}
            )
        else:
            io = {"inputs": [{"name": "x", "shape": [None, FEATURES], "dtype": "float32"}], "outputs": []}
            data = msg.encode_json({"format": "npz-mlp", "io": io, "runtime": {"name": "onnxruntime"}})
        return frame_of(MessageType.IOSPEC, data, rid)
    if kind == "model-name":
        name = draw(st.sampled_from(TRAVERSAL))
        raw = name.encode("utf-8")[:255]
        return frame_of(
            MessageType.MODEL, struct.pack("<Q", 10) + bytes([len(raw)]) + raw + b"0123456789", rid
        )
    if kind == "model-size":
        total = draw(st.integers(2**20 + 1, 2**64 - 1))
        return frame_of(MessageType.MODEL, msg.encode_model_head(total, "big.npz") + b"x" * 10, rid)
    if kind == "model-cont":
        return frame_of(MessageType.MODEL, draw(payloads), rid, flags=int(Flag.CONT))
    if kind == "model-head":
        return frame_of(MessageType.MODEL, draw(st.binary(max_size=8)), rid)
    if kind in ("data", "infer"):
        type_ = MessageType.DATA if kind == "data" else MessageType.INFER
        return frame_of(type_, draw(tensor_garbage()), rid)
    if kind == "process":  # no DATA ever succeeds in a batch, so PROCESS has nothing to run
        return frame_of(MessageType.PROCESS, draw(payloads), rid)
    if kind == "output":
        return frame_of(MessageType.OUTPUT, draw(payloads), rid)
    if kind == "stats":
        bad = draw(
            st.one_of(st.integers(3, 255).map(lambda a: bytes([a])), st.binary(min_size=2, max_size=40))
        )
        if len(bad) == 8 and bad[0] == 1 and not any(bad[1:4]):
            bad += b"!"
        return frame_of(MessageType.STATS, bad, rid)
    # payload-crc: a valid INFER with CRC whose payload (or CRC) has a flipped bit
    good = b"".join(bytes(p) for p in encode_tensors([np.ones((1, FEATURES), np.float32)]))
    frame = bytearray(encode_frame(MessageType.INFER, good, request_id=rid, crc=True))
    bit = draw(st.integers(HEADER_SIZE * 8, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    return bytes(frame)


@st.composite
def fatal_frame(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(bytes, truncated): frames after which the server must close (after ERROR, or at end of stream)."""
    kind = draw(st.sampled_from(["garbage", "magic", "header-flip", "version", "oversized", "flags",
                                 "truncated"]))  # fmt: skip
    good = frame_of(
        MessageType.INFER, b"".join(bytes(p) for p in encode_tensors([np.ones((1, FEATURES), np.float32)]))
    )
    if kind == "garbage":
        data = draw(st.binary(min_size=HEADER_SIZE, max_size=400).filter(lambda b: b[:4] != b"EDAI"))
        return data, False
    if kind == "magic":
        head = _HEAD.pack(
            draw(st.integers(0, 2**32 - 1).filter(lambda m: m != MAGIC_U32)), 1, 3, 0, 0, 1, 0, 0
        )
        return head + _U32.pack(zlib.crc32(head)), False
    if kind == "header-flip":
        frame = bytearray(good)
        for bit in draw(st.lists(st.integers(0, HEADER_SIZE * 8 - 1), min_size=1, max_size=3, unique=True)):
            frame[bit // 8] ^= 1 << (bit % 8)
        return bytes(frame), False
    if kind == "version":
        head = _HEAD.pack(MAGIC_U32, draw(st.integers(0, 255).filter(lambda v: v != 1)), 3, 0, 0, 1, 0, 0)
        return head + _U32.pack(zlib.crc32(head)), False
    if kind == "oversized":
        return encode_header(MessageType.INFER, draw(st.integers(MAX_FRAME + 1, 2**32 - 1))), False
    if kind == "flags":
        head = _HEAD.pack(MAGIC_U32, 1, MessageType.STATS, draw(st.integers(8, 255)), 0, 1, 0, 0)
        return head + _U32.pack(zlib.crc32(head)), False
    cut = draw(st.integers(1, len(good) - 1))
    return good[:cut], True


@pytest.mark.slow
def test_server_survives_malformed_frames(target: Any) -> None:
    server, artifact = target
    port = server.port

    @settings(max_examples=320, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(
        frames=st.lists(nonfatal_frame(), min_size=10, max_size=40),
        last=st.one_of(st.none(), fatal_frame()),
        loaded=st.booleans(),
    )
    def batches(frames: list[bytes], last: tuple[bytes, bool] | None, loaded: bool) -> None:
        run_batch(port, artifact, frames, last[0] if last else None, bool(last and last[1]), loaded)

    batches()

    # hand-written cases: every type with an empty and an oversized payload before HELLO, pre-auth limits
    for type_ in range(256):
        client = RawClient(port)
        try:
            client.send(frame_of(type_, b"x" * (4096 + 1)))  # above the pre-HELLO limit: fatal
            _expect_error(client, f"pre-HELLO oversized type {type_}")
        finally:
            client.close()
    # bulk bit flips anywhere in valid frames (seeded), with CRC so every flip is detectable
    rng = random.Random(1234)
    good = b"".join(bytes(p) for p in encode_tensors([np.ones((1, FEATURES), np.float32)]))
    while Tally.frames < 10_500:
        batch = []
        for _ in range(50):
            frame = bytearray(encode_frame(MessageType.INFER, good, request_id=rng.getrandbits(32), crc=True))
            bit = rng.randrange(HEADER_SIZE * 8, len(frame) * 8)
            frame[bit // 8] ^= 1 << (bit % 8)
            batch.append(bytes(frame))
        flipped = bytearray(frame_of(MessageType.INFER, good))
        bit = rng.randrange(HEADER_SIZE * 8)
        flipped[bit // 8] ^= 1 << (bit % 8)
        run_batch(port, artifact, batch, bytes(flipped), False, True)

    assert Tally.frames >= 10_000, Tally.frames
    assert server.proc.poll() is None, "the server died: " + server.stderr()
    assert Tally.codes.get(ErrorCode.BAD_FRAME, 0) > 100 and Tally.codes.get(ErrorCode.BAD_PAYLOAD, 0) > 100
    assert Tally.codes.get(ErrorCode.BAD_NAME, 0) > 10 and Tally.codes.get(ErrorCode.BAD_CRC, 0) > 1000
    assert "Traceback" not in server.stderr()

    # a well-behaved client is served correctly by the same process
    client = _session(port, artifact, loaded=True)
    try:
        x = np.random.default_rng(5).standard_normal((7, FEATURES)).astype(np.float32)
        header, payload = client.request(MessageType.INFER, b"".join(bytes(p) for p in encode_tensors([x])))
        assert header.type == MessageType.OUTPUT, error_of(payload)
        from edgeai_core.wire.codec import decode_tensors

        (out,) = decode_tensors(payload, 8)
        np.testing.assert_array_equal(out, reference(artifact, x))
        assert struct.unpack_from("<Q", payload)[0] > 0, "the target reports its inference time"
    finally:
        client.close()
    print(
        f"fuzz: {Tally.frames} frames, {Tally.errors} ERROR replies, {Tally.closed} closed; codes {Tally.codes}"
    )


def test_well_formed_requests_still_work_between_garbage(target: Any) -> None:
    """A non-fatal error leaves the connection usable: garbage, then a valid INFER, on one connection."""
    server, artifact = target
    client = _session(server.port, artifact, loaded=True)
    try:
        header, payload = client.request(0xEE, b"what is this")
        assert header.type == MessageType.ERROR and error_of(payload)[0] == ErrorCode.UNKNOWN_TYPE
        assert "unknown message type 0xee" in error_of(payload)[1]
        x = np.ones((1, FEATURES), np.float32)
        header, payload = client.request(MessageType.INFER, b"".join(bytes(p) for p in encode_tensors([x])))
        assert header.type == MessageType.OUTPUT and header.request_id == client.rid
    finally:
        client.close()


def test_random_garbage_connections(target: Any) -> None:
    """Raw random bytes (seeded) on fresh connections: answered by BAD_FRAME and a close, or just a close."""
    server, _ = target
    rng = random.Random(99)
    for _ in range(60):
        client = RawClient(server.port)
        try:
            client.send(os.urandom(0) + bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200))))
            client.shutdown_write()
            reply = client.read()
            if reply is not None:
                assert reply[0].type == MessageType.ERROR
                assert error_of(reply[1])[0] in (ErrorCode.BAD_FRAME, ErrorCode.UNSUPPORTED_VERSION)
                assert client.read() is None
        finally:
            client.close()
    assert server.proc.poll() is None
