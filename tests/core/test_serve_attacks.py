"""Attacks on a target server, each the way an attacker on the lab network would run it (on loopback here).

Most tests talk to a real `edgeai serve` subprocess; the parameter allow-list is tested on a real server
embedded in this process (a real TCP socket), which also proves the rules live in the server, not the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "support"))
from edgeai_wire_testing import RawClient, error_of, reference, serving, upload_raw, write_mlp

import edgeai_core.plugin as core_plugin
from edgeai_core.cli import cli
from edgeai_core.components import Context
from edgeai_core.errors import UsageError
from edgeai_core.params import Param
from edgeai_core.records import RuntimeRecord
from edgeai_core.transports.tcp import TcpStream
from edgeai_core.wire import messages as msg
from edgeai_core.wire.client import Client, TargetError
from edgeai_core.wire.framing import HEADER_SIZE, ErrorCode, MessageType
from edgeai_core.wire.server import ServerLimits, TargetServer

pytestmark = pytest.mark.subprocess

SERVE = ["--protocol", "tcp", "--runtime", "numpy", "--port", "0"]


def connect(port: int, *, timeout: float = 10.0) -> Client:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return Client(TcpStream(sock, f"127.0.0.1:{port}"), timeout_s=timeout)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_mlp(tmp_path_factory.mktemp("model") / "mlp.npz")


def full_run(port: int, model: Any) -> np.ndarray:
    """What a real host does: HELLO, IOSPEC, MODEL, INFER; returns the outputs."""
    with connect(port) as client:
        client.hello()
        client.send_iospec(model.to_json())
        client.upload(model.path)
        x = np.full((2, 6), 0.25, np.float32)
        outputs, _ = client.infer([x])
        np.testing.assert_array_equal(outputs[0], reference(model, x))
        return outputs[0]


def read_error(raw: RawClient) -> tuple[int, str]:
    reply = raw.read()
    assert reply is not None, "expected an ERROR before the server closed the connection"
    assert reply[0].type == MessageType.ERROR
    return error_of(reply[1])


# -- the session slot -----------------------------------------------------------------------------------


def test_a_drip_before_hello_is_dropped_and_a_waiting_host_is_served(tmp_path: Path, model: Any) -> None:
    with serving([*SERVE, "--handshake-timeout-s", "1.5"], tmp_path / "w") as server:
        attacker = RawClient(server.port)
        frame = attacker.frame(MessageType.HELLO, msg.Hello(nonce=os.urandom(16)).encode())
        dripped: list[int] = []

        def drip() -> None:  # one byte every 0.4 s: each receive succeeds, the frame never completes
            for byte in frame:
                try:
                    attacker.sock.sendall(bytes([byte]))
                except OSError:
                    return
                dripped.append(byte)
                time.sleep(0.4)

        thread = threading.Thread(target=drip, daemon=True)
        thread.start()
        time.sleep(0.2)
        full_run(server.port, model)  # connects while the attacker holds the slot: waits, is not told BUSY
        code, text = read_error(attacker)
        assert code in (ErrorCode.FRAME_TIMEOUT, ErrorCode.HANDSHAKE_TIMEOUT), text
        assert "closing the connection" in text
        assert attacker.read() is None, "the attacker's connection is closed"
        assert len(dripped) < len(frame), "dropped before the drip could finish its frame"
        attacker.close()
        thread.join(5)


def test_a_drip_after_hello_is_dropped_at_the_minimum_rate(tmp_path: Path, model: Any) -> None:
    with serving([*SERVE, "--min-rate-kib-s", "1"], tmp_path / "w") as server:
        raw = RawClient(server.port)
        raw.hello()
        frame = raw.frame(MessageType.STATS, msg.encode_stats_request(msg.STATS_REPORT, 0) + b"")
        raw.send(frame[: HEADER_SIZE - 4])  # the frame has begun
        code, text = read_error(raw)  # ... and is never finished: 2 s of grace + 24 bytes at 1 KiB/s
        assert code == ErrorCode.FRAME_TIMEOUT and "did not arrive in time" in text, text
        assert "at least 1024 bytes/s" in text
        assert raw.read() is None
        raw.close()
        full_run(server.port, model)


@pytest.mark.parametrize("message", [MessageType.STATS, MessageType.IOSPEC, MessageType.BYE])
def test_anything_before_hello_gets_one_error_and_the_connection_closes(
    tmp_path: Path, model: Any, message: MessageType
) -> None:
    with serving(SERVE, tmp_path / "w") as server:
        raw = RawClient(server.port)
        payload = msg.encode_stats_request(msg.STATS_REPORT, 0) if message == MessageType.STATS else b""
        header, reply = raw.request(message, payload)
        assert header.type == MessageType.ERROR
        code, text = error_of(reply)
        assert code == ErrorCode.UNEXPECTED and "send HELLO first" in text
        assert raw.read() is None, "closed after the first frame that was not HELLO"
        raw.close()
        full_run(server.port, model)  # the slot is free at once


def test_a_silent_connection_loses_the_slot_at_the_handshake_deadline(tmp_path: Path, model: Any) -> None:
    with serving([*SERVE, "--handshake-timeout-s", "1", "--idle-timeout-s", "300"], tmp_path / "w") as server:
        silent = RawClient(server.port)
        time.sleep(0.2)
        full_run(server.port, model)  # waits for the silent one's deadline, then is served
        code, text = read_error(silent)
        assert code == ErrorCode.HANDSHAKE_TIMEOUT and "did not complete within 1 s" in text
        silent.close()


def test_a_second_host_is_still_told_busy_once_the_first_has_finished_its_handshake(tmp_path: Path) -> None:
    with serving([*SERVE, "--handshake-timeout-s", "30"], tmp_path / "w") as server:
        first = connect(server.port)
        first.hello()
        second = connect(server.port)
        # told BUSY at once, not after the 30 s handshake deadline: the client would time out first (10 s)
        with pytest.raises(TargetError, match="target busy") as err:
            second.hello()
        assert err.value.code == ErrorCode.BUSY
        second.close()
        first.close()


def test_a_token_target_drops_a_host_that_never_authenticates(tmp_path: Path, model: Any) -> None:
    token = tmp_path / "token"
    token.write_text("a-shared-secret-for-this-test-only\n")
    token.chmod(0o600)
    args = [*SERVE, "--token-file", str(token), "--handshake-timeout-s", "1"]
    with serving(args, tmp_path / "w") as server:
        raw = RawClient(server.port)
        raw.hello()  # and then no AUTH
        code, text = read_error(raw)
        assert code == ErrorCode.HANDSHAKE_TIMEOUT and "HELLO and AUTH did not complete within 1 s" in text
        raw.close()
        client = Client(
            TcpStream(socket.create_connection(("127.0.0.1", server.port), timeout=10), "t"),
            token=token.read_bytes().strip(),
            timeout_s=10,
        )
        try:
            assert client.hello().auth_required
        finally:
            client.close()


# -- the work directory ---------------------------------------------------------------------------------


def _entries(workdir: Path) -> list[str]:
    return sorted(p.name for p in (workdir / "models").iterdir())


def test_uploads_are_deleted_when_the_session_ends(tmp_path: Path, model: Any) -> None:
    with serving(SERVE, tmp_path / "w") as server:
        workdir = Path(server.event["workdir"])
        client = connect(server.port)
        client.hello()
        client.send_iospec(model.to_json())
        client.upload(model.path)
        assert _entries(workdir) == ["mlp.npz", "mlp.npz.edgeai.json"]
        client.bye()
        client.close()
        deadline = time.monotonic() + 10
        while _entries(workdir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _entries(workdir) == []


def test_the_workdir_quota_refuses_an_upload_and_the_session_goes_on(tmp_path: Path, model: Any) -> None:
    big = write_mlp(tmp_path / "big.npz", features=6, hidden=400)  # about 20 KB
    args = [*SERVE, "--keep-models", "--workdir-quota-mb", "0.03"]  # 31457 bytes
    with serving(args, tmp_path / "w") as server:
        workdir = Path(server.event["workdir"])
        full_run(server.port, big)  # kept: the next session starts with it in the work directory
        with connect(server.port) as client:
            client.hello()
            client.send_iospec(big.to_json())
            renamed = tmp_path / "big2.npz"
            renamed.write_bytes(big.path.read_bytes())
            with pytest.raises(TargetError, match=r"edgeai serve --workdir-quota-mb") as err:
                client.upload(renamed)
            assert err.value.code == ErrorCode.QUOTA_EXCEEDED
            assert "big2.npz has" in str(err.value) and str(workdir) not in str(err.value)
            assert not [n for n in _entries(workdir) if n.startswith(".upload-")], "no .part file is left"
            client.send_iospec(model.to_json())  # a small one still fits
            client.upload(model.path)
            x = np.ones((1, 6), np.float32)
            np.testing.assert_array_equal(client.infer([x])[0][0], reference(model, x))


def test_allowed_models_pins_what_may_run(tmp_path: Path, model: Any) -> None:
    other = write_mlp(tmp_path / "other.npz", seed=3)
    allowed = tmp_path / "allowed.txt"
    digest = hashlib.sha256(model.path.read_bytes()).hexdigest()
    allowed.write_text(f"# models this lab runs\n{digest}  mlp.npz\n")
    with serving([*SERVE, "--allowed-models", str(allowed)], tmp_path / "w") as server:
        workdir = Path(server.event["workdir"])
        raw = RawClient(server.port)
        try:
            raw.hello()
            header, payload = upload_raw(raw, other)
            code, text = error_of(payload)
            assert header.type == MessageType.ERROR and code == ErrorCode.NOT_ALLOWED
            other_digest = hashlib.sha256(other.path.read_bytes()).hexdigest()
            assert f"sha256 {other_digest}" in text and "--allowed-models" in text
            assert _entries(workdir) == [], "refused before it was stored: no file, no .part"
            header, payload = upload_raw(raw, model)
            assert header.type == MessageType.OK, error_of(payload)
        finally:
            raw.close()


def test_allowed_models_file_errors_name_the_line(tmp_path: Path, core_host: Any) -> None:
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("0" * 64 + "\nnot-a-digest\n")
    result = CliRunner().invoke(
        cli, ["serve", *SERVE, "--allowed-models", str(allowed)], obj={"host": core_host}
    )
    assert result.exit_code == 2
    assert "line 2: 'not-a-digest' is not a SHA-256 digest" in result.stderr


def test_errors_never_carry_the_targets_paths(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.npz"
    garbage.write_bytes(b"this is not an npz file at all")
    model = write_mlp(tmp_path / "ok.npz")
    with serving(SERVE, tmp_path / "w") as server:
        workdir = Path(server.event["workdir"])
        raw = RawClient(server.port)
        try:
            raw.hello()
            header, payload = raw.request(MessageType.IOSPEC, msg.encode_json(model.to_json()))
            assert header.type == MessageType.OK
            data = garbage.read_bytes()
            header, payload = raw.request(
                MessageType.MODEL, msg.encode_model_head(len(data), "broken.npz") + data
            )
            code, text = error_of(payload)
            assert code == ErrorCode.RUNTIME_FAILURE and "broken.npz" in text
            for private in {str(workdir), str(workdir.resolve()), str(tmp_path)}:
                assert private not in text, text
        finally:
            raw.close()


@pytest.mark.parametrize(
    ("shape", "problem"),
    [("[Infinity]", "is NaN/inf"), ("[-5]", "is -5"), ("[1.5]", "is 1.5"), ("[true]", "is True"),
     ("[4294967296]", "is 4294967296"), ('["a b/../c"]', "named dynamic dimension")],
)  # fmt: skip
def test_iospec_dimensions_must_be_sane(tmp_path: Path, model: Any, shape: str, problem: str) -> None:
    doc = json.dumps(model.to_json()).replace('"shape": [null, 6]', f'"shape": {shape}')
    assert shape in doc
    with serving(SERVE, tmp_path / "w") as server:
        raw = RawClient(server.port)
        try:
            raw.hello()
            header, payload = raw.request(MessageType.IOSPEC, doc.encode())
            code, text = error_of(payload)
            assert header.type == MessageType.ERROR and code == ErrorCode.BAD_PAYLOAD
            assert "tensor 'input' dimension 0" in text and problem in text, text
            assert upload_raw(raw, model)[0].type == MessageType.OK, "the session goes on"
        finally:
            raw.close()


# -- what a host may set --------------------------------------------------------------------------------


GUARDED = RuntimeRecord(
    name="guarded",
    summary="numpy runtime with one host-settable parameter and two operator-only ones",
    factory="edgeai_core.builtins.mlp:NumpyRuntime",
    formats=("npz-mlp",),
    params=(
        Param("threads", "int", default=1, minimum=1, help="threads", host=True),
        Param("plugins", "list[str]", default=None, help="libraries to load"),
        Param("cache", "path", default=None, help="a cache folder"),
    ),
)


@pytest.fixture
def embedded(tmp_path: Path) -> Any:
    from edgeai_core.transports.tcp import TcpProtocol

    records = {r.name: r for r in core_plugin.edgeai_register_protocols()}
    protocol = TcpProtocol(record=records["tcp"], params={"host": "127.0.0.1", "port": 0}, context=Context())
    server = TargetServer(protocol, GUARDED, {}, workdir=tmp_path / "w", limits=ServerLimits())
    event = server.listen()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield event
    server.stop()
    thread.join(10)


@pytest.mark.parametrize("name", ["plugins", "cache", "delegates", "PLUGINS"])
def test_a_host_sets_only_host_settable_parameters(embedded: Any, model: Any, name: str) -> None:
    with connect(embedded["port"]) as client:
        client.hello()
        doc = {**model.to_json(), "runtime": {"name": "guarded", "params": {name: ["/tmp/evil.so"]}}}
        with pytest.raises(
            TargetError, match=rf"runtime\.{name.replace('-', '_')}: only the target's operator"
        ) as err:
            client.send_iospec(doc)
        assert err.value.code == ErrorCode.NOT_ALLOWED
        assert "--set runtime." in str(err.value) and "a host may set: threads" in str(err.value)
        client.send_iospec({**model.to_json(), "runtime": {"name": "guarded", "params": {"threads": 2}}})
        client.upload(model.path)
        x = np.ones((1, 6), np.float32)
        np.testing.assert_array_equal(client.infer([x])[0][0], reference(model, x))


def test_path_parameters_cannot_be_declared_host_settable() -> None:
    with pytest.raises(ValueError, match="a path parameter cannot be host-settable"):
        Param("model_dir", "path", default=None, help="x", host=True)


def test_host_settable_parameters_are_marked_in_describe(core_host: Any) -> None:
    schema = GUARDED.params.json_schema()
    assert schema["properties"]["threads"]["x-edgeai-host-settable"] is True
    assert "x-edgeai-host-settable" not in schema["properties"]["plugins"]


# -- exposure rules live in the server ------------------------------------------------------------------


NATIVE = RuntimeRecord(
    name="native",
    summary="a runtime whose artifacts are native code",
    factory="edgeai_core.builtins.mlp:NumpyRuntime",
    formats=("npz-mlp",),
    native_code=True,
)


def _protocol(host: str) -> Any:
    from edgeai_core.transports.tcp import TcpProtocol

    records = {r.name: r for r in core_plugin.edgeai_register_protocols()}
    return TcpProtocol(record=records["tcp"], params={"host": host, "port": 0}, context=Context())


def test_an_embedded_server_refuses_what_the_cli_refuses(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--host 0\.0\.0\.0 is not a loopback address"):
        TargetServer(_protocol("0.0.0.0"), GUARDED, {}, workdir=tmp_path / "a")
    with pytest.raises(UsageError, match=r"loads models as native code.*--allow-native-code"):
        TargetServer(_protocol("127.0.0.1"), NATIVE, {}, workdir=tmp_path / "b")
    with pytest.raises(UsageError, match="--allow-remote is not enough for native code"):
        TargetServer(
            _protocol("0.0.0.0"),
            NATIVE,
            {},
            workdir=tmp_path / "c",
            allow_remote=True,
            allow_native_code=True,
        )
    server = TargetServer(  # loopback and the operator's opt-in: allowed
        _protocol("127.0.0.1"), NATIVE, {}, workdir=tmp_path / "d", allow_native_code=True
    )
    server.stop()
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").rglob("*.npz"))


def test_a_stale_part_file_is_removed_at_start(tmp_path: Path) -> None:
    models = tmp_path / "w" / "models"
    models.mkdir(parents=True)
    (models / ".upload-0123456789abcdef.part").write_bytes(b"x" * 100)
    with serving(SERVE, tmp_path / "w"):
        assert _entries(tmp_path / "w") == []
