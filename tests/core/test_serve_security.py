"""`edgeai serve` against misbehaving or unauthorised hosts: tokens, names, sizes, busy, idle, formats.

Each test talks to a real `edgeai serve` subprocess, with the library's client or by hand (RawClient).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "support"))
from edgeai_wire_testing import RawClient, error_of, reference, serving, upload_raw, write_mlp

from edgeai_core.cli import cli
from edgeai_core.components import Stream
from edgeai_core.errors import RuntimeFailure
from edgeai_core.transports.tcp import TcpStream
from edgeai_core.wire import messages as msg
from edgeai_core.wire.client import Client, TargetError
from edgeai_core.wire.codec import encode_tensors
from edgeai_core.wire.framing import ErrorCode, MessageType

pytestmark = pytest.mark.subprocess

SERVE = ["--protocol", "tcp", "--runtime", "numpy", "--port", "0"]


class Recording(TcpStream):
    """A TCP stream that keeps a copy of every byte sent."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        super().__init__(sock, peer)
        self.sent = bytearray()

    def send(self, *parts: Any) -> None:
        for part in parts:
            self.sent += bytes(part)
        super().send(*parts)


def connect(port: int, *, token: bytes | None = None, record: bool = False, timeout: float = 10.0) -> Client:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    stream: Stream = (Recording if record else TcpStream)(sock, f"127.0.0.1:{port}")
    return Client(stream, token=token, timeout_s=timeout)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_mlp(tmp_path_factory.mktemp("model") / "mlp.npz")


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text("correct-horse-battery-staple-0123456789\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, token_file: Path) -> Any:
    with serving(
        [*SERVE, "--token-file", str(token_file)], tmp_path_factory.mktemp("secured") / "w"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("plain")
    with serving([*SERVE, "--max-model-mb", "0.01"], root / "work") as server:
        yield server


def test_right_token_authenticates_both_ways_and_never_travels(
    secured: Any, token_file: Path, model: Any
) -> None:
    token = token_file.read_bytes().strip()
    with connect(secured.port, token=token, record=True) as client:
        info = client.hello()
        assert info.auth_required and info.runtime == "numpy" and info.formats == ("npz-mlp",)
        doc = model.to_json()
        client.send_iospec(doc)
        assert client.upload(model.path)[0] == model.size_bytes
        x = np.ones((3, 6), np.float32)
        outputs, _ = client.infer([x])
        np.testing.assert_array_equal(outputs[0], reference(model, x))
        sent = bytes(client.stream.sent)  # type: ignore[attr-defined]
    assert token not in sent and token.hex().encode() not in sent and token[:12] not in sent


def test_wrong_token_is_rejected_and_never_travels(secured: Any) -> None:
    wrong = b"not-the-right-token-at-all-0000"
    with connect(secured.port, token=wrong, record=True) as client:
        with pytest.raises(TargetError, match="authentication failed") as err:
            client.hello()
        assert err.value.code == ErrorCode.AUTH_FAILED
        assert wrong not in bytes(client.stream.sent)  # type: ignore[attr-defined]
        with pytest.raises(RuntimeFailure, match="connection lost"):
            client.stats()  # the target closed the connection


def test_missing_token_is_rejected(secured: Any) -> None:
    with (
        connect(secured.port) as client,
        pytest.raises(RuntimeFailure, match=r"requires authentication; set target\.token_file"),
    ):
        client.hello()
    raw = RawClient(secured.port)  # a host that skips AUTH altogether
    try:
        raw.hello()
        header, payload = raw.request(MessageType.STATS)
        assert header.type == MessageType.ERROR and error_of(payload)[0] == ErrorCode.AUTH_REQUIRED
        assert raw.read() is None, "closed after AUTH_REQUIRED"
    finally:
        raw.close()


def test_a_host_with_a_token_refuses_a_target_without_authentication(plain: Any) -> None:
    with (
        connect(plain.port, token=b"some-token-that-nobody-checks") as client,
        pytest.raises(RuntimeFailure, match="does not require authentication"),
    ):
        client.hello()


@pytest.mark.parametrize(
    "name",
    ["../escape.npz", "../../etc/passwd", "/tmp/abs.npz", "sub/dir.npz", "sub\\win.npz", "C:evil.npz",
     "nul\0.npz", "..", ".", "", ".hidden.npz", "x.npz.edgeai.json", "~user.npz", "a..b.npz", "tab\t.npz"],
)  # fmt: skip
def test_path_traversal_in_model_names_is_rejected(plain: Any, model: Any, tmp_path: Path, name: str) -> None:
    workdir = Path(plain.event["workdir"])
    before = sorted(p.relative_to(workdir.parent) for p in workdir.parent.rglob("*"))
    client = RawClient(plain.port)
    try:
        client.hello()
        header, payload = upload_raw(client, model, name=name)
        assert header.type == MessageType.ERROR
        code, text = error_of(payload)
        assert code == ErrorCode.BAD_NAME, text
        assert "plain file name" in text
        # the connection stays usable
        header, payload = upload_raw(client, model, name="fine.npz")
        assert header.type == MessageType.OK, error_of(payload)
    finally:
        client.close()
    after = sorted(p.relative_to(workdir.parent) for p in workdir.parent.rglob("*"))
    new = set(after) - set(before)
    assert all(p.parts[0] == workdir.name for p in new), f"written outside the work directory: {new}"
    models = sorted(p.name for p in (workdir / "models").iterdir())
    assert set(models) <= {"fine.npz", "fine.npz.edgeai.json"}, "no temporary file is left behind"


def test_oversized_model_is_rejected_with_the_limit_named(plain: Any, model: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.npz"
    big.write_bytes(os.urandom(20_000))
    with connect(plain.port) as client:
        info = client.hello()
        assert info.max_model_bytes == int(0.01 * 2**20)
        client.send_iospec(model.to_json())
        with pytest.raises(
            RuntimeFailure, match=r"accepts at most 10485 bytes \(edgeai serve --max-model-mb\)"
        ):
            client.upload(big)
        # the same refusal from the target itself, for a host that does not check, in 4 KiB chunks
        client.stream.chunk_bytes = 4096
        with pytest.raises(
            TargetError, match=r"has 20000 bytes; this target accepts at most 10485 bytes"
        ) as err:
            client.upload(big, check_limit=False)
        assert err.value.code == ErrorCode.MODEL_TOO_LARGE
        # and the session goes on: a model within the limit loads
        assert client.upload(model.path)[0] == model.size_bytes
        outputs, target_ns = client.infer([np.zeros((1, 6), np.float32)])
        assert outputs[0].shape == (1, 3) and target_ns > 0


def test_unsupported_format_names_the_accepted_ones(plain: Any, model: Any) -> None:
    with connect(plain.port) as client:
        client.hello()
        doc = {**model.to_json(), "format": "onnx"}
        with pytest.raises(
            TargetError, match="runtime numpy on this target loads npz-mlp models, not onnx"
        ) as err:
            client.send_iospec(doc)
        assert err.value.code == ErrorCode.UNSUPPORTED_FORMAT
        with pytest.raises(TargetError, match="serves runtime numpy, the host asked for onnxruntime"):
            client.send_iospec({**model.to_json(), "runtime": {"name": "onnxruntime", "params": {}}})


def test_model_before_iospec_and_inference_before_model_are_errors(plain: Any, model: Any) -> None:
    client = RawClient(plain.port)
    try:
        client.hello()
        data = model.path.read_bytes()
        _header, payload = client.request(MessageType.MODEL, msg.encode_model_head(len(data), "m.npz") + data)
        assert error_of(payload)[0] == ErrorCode.UNEXPECTED and "IOSPEC" in error_of(payload)[1]
        tensors = b"".join(bytes(p) for p in encode_tensors([np.zeros((1, 6), np.float32)]))
        for type_ in (MessageType.INFER, MessageType.DATA):
            _, payload = client.request(type_, tensors)
            assert error_of(payload)[0] == ErrorCode.NO_MODEL
    finally:
        client.close()


def test_a_second_host_is_told_busy(plain: Any) -> None:
    first = connect(plain.port)
    try:
        first.hello()
        second = connect(plain.port)
        try:
            with pytest.raises(TargetError, match="target busy: it is serving another host") as err:
                second.hello()
            assert err.value.code == ErrorCode.BUSY
        finally:
            second.close()
        assert first.stats()["runtime"] == "numpy", "the first host is still served"
    finally:
        first.bye()
        first.close()
    again = connect(plain.port)  # and once it has left, the next one is served
    try:
        assert again.hello().runtime == "numpy"
    finally:
        again.close()


def test_idle_host_is_timed_out(tmp_path: Path) -> None:
    with serving([*SERVE, "--idle-timeout-s", "0.3"], tmp_path / "w") as server:
        client = RawClient(server.port)
        try:
            client.hello()
            time.sleep(0.6)
            reply = client.read()
            assert reply is not None and reply[0].type == MessageType.ERROR
            code, text = error_of(reply[1])
            assert code == ErrorCode.IDLE_TIMEOUT and "no message for 0.3 s" in text
            assert client.read() is None
        finally:
            client.close()
        assert connect(server.port).hello().runtime == "numpy", "the server serves the next host"


def test_a_host_vanishing_mid_upload_leaves_the_server_serving(plain: Any, model: Any) -> None:
    client = RawClient(plain.port)
    client.hello()
    client.request(MessageType.IOSPEC, msg.encode_json(model.to_json()))
    frame = client.frame(MessageType.MODEL, msg.encode_model_head(9000, "half.npz") + b"x" * 9000)
    client.send(frame[: len(frame) // 2])
    client.close()
    good = connect(plain.port)
    try:
        good.hello()
        good.send_iospec(model.to_json())
        good.upload(model.path)
        x = np.full((2, 6), 0.5, np.float32)
        np.testing.assert_array_equal(good.infer([x])[0][0], reference(model, x))
    finally:
        good.close()
    models = Path(plain.event["workdir"]) / "models"
    assert not (models / "half.npz").exists() and not list(models.glob(".upload-*"))


def test_seed_semantics_data_process_output(plain: Any, model: Any) -> None:
    """DATA, then PROCESS answered by OK when inference starts and OK (with its time) when it ends."""
    client = RawClient(plain.port)
    try:
        client.hello()
        assert upload_raw(client, model)[0].type == MessageType.OK
        x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
        header, payload = client.request(MessageType.DATA, b"".join(bytes(p) for p in encode_tensors([x])))
        assert header.type == MessageType.OK and payload == b""
        started = client.request(MessageType.PROCESS)
        ended = client.read()
        assert started[0].type == MessageType.OK and started[1] == b""
        assert ended is not None and ended[0].type == MessageType.OK
        assert ended[0].request_id == started[0].request_id
        assert msg.decode_u64(ended[1], "PROCESS") > 0
        header, payload = client.request(MessageType.OUTPUT)
        from edgeai_core.wire.codec import decode_tensors

        np.testing.assert_array_equal(decode_tensors(payload, 8)[0], reference(model, x))
    finally:
        client.close()


def test_large_uploads_are_streamed_to_disk_intact(tmp_path: Path) -> None:
    from edgeai_core.builtins.echo import echo_artifact

    artifact = echo_artifact(tmp_path / "big.bin", [(None, 4)])
    artifact.path.write_bytes(os.urandom(3 * 2**20 + 5))  # above the buffered limit: streamed
    with serving(["--runtime", "echo", "--port", "0", "--keep-models"], tmp_path / "w") as server:
        with connect(server.port) as client:
            client.hello()
            client.send_iospec(artifact.to_json())
            stored, _ = client.upload(artifact.path)
            x = np.arange(8, dtype=np.float32).reshape(2, 4)
            np.testing.assert_array_equal(client.infer([x])[0][0], x)
            assert client.iospec()["format"] == "echo"
        copy = Path(server.event["workdir"]) / "models" / "big.bin"
        assert stored == artifact.size_bytes == copy.stat().st_size
        assert (
            hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(artifact.path.read_bytes()).digest()
        )


def test_serve_refuses_a_public_address_without_a_token(core_host: Any) -> None:
    result = CliRunner().invoke(cli, ["serve", *SERVE, "--host", "0.0.0.0"], obj={"host": core_host})
    assert result.exit_code == 2
    assert "--host 0.0.0.0 is not a loopback address" in result.stderr and "--token-file" in result.stderr


def test_serve_validates_its_options(core_host: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    bad_runtime = runner.invoke(cli, ["serve", "--runtime", "nmupy"], obj={"host": core_host})
    assert bad_runtime.exit_code == 2 and "did you mean 'numpy'" in bad_runtime.stderr
    no_device = runner.invoke(
        cli, ["serve", "--protocol", "serial", "--runtime", "numpy"], obj={"host": core_host}
    )
    assert no_device.exit_code == 2 and "protocol.device: is required" in no_device.stderr
    short = tmp_path / "short"
    short.write_text("abc")
    weak = runner.invoke(cli, ["serve", *SERVE, "--token-file", str(short)], obj={"host": core_host})
    assert weak.exit_code == 2 and "use at least 16" in weak.stderr
    bad_set = runner.invoke(cli, ["serve", *SERVE, "--set", "threads=2"], obj={"host": core_host})
    assert bad_set.exit_code == 2 and "expected runtime.NAME=VALUE" in bad_set.stderr
    helped = runner.invoke(cli, ["serve", "--protocol", "serial", "--runtime", "numpy", "--help"],
                           obj={"host": core_host})  # fmt: skip
    assert helped.exit_code == 0 and "--baudrate" in helped.output and "--device" in helped.output


def test_back_to_back_inferences_stay_correct_across_layouts_and_other_messages(
    plain: Any, model: Any
) -> None:
    """The target's fast path for repeated INFERs must give the same answers as the general one."""
    with connect(plain.port) as client:
        client.hello()
        client.send_iospec(model.to_json())
        client.upload(model.path)
        rng = np.random.default_rng(7)
        shapes = [(1, 6)] * 5 + [(4, 6)] * 3 + [(1, 6)] * 2 + [(9, 6)]
        for i, shape in enumerate(shapes):
            x = rng.standard_normal(shape).astype(np.float32)
            if i % 4 == 0:
                outputs, target_ns = client.infer([x])
            else:
                prepared = client.prepare([x])
                target_ns = client.infer_prepared(prepared)
                outputs, _ = client.infer([x])
            np.testing.assert_array_equal(outputs[0], reference(model, x))
            assert target_ns > 0
            if i == 6:
                assert client.stats()["inferences"] >= 12
        with pytest.raises(TargetError, match="input 'input' must be float32") as err:
            client.infer([np.zeros((1, 6), np.float64)])
        assert err.value.code == ErrorCode.BAD_PAYLOAD
        x = np.ones((2, 6), np.float32)
        np.testing.assert_array_equal(client.infer([x])[0][0], reference(model, x))
