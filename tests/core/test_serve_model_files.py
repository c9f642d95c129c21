"""Models with companion files on a target: IOSPEC ``files``, one MODEL sequence per file, and the attacks on
that surface (names, digests, counts, sizes), on a real server embedded in this process (a real TCP socket)
and through a real `edgeai serve` subprocess for the session clean-up."""

from __future__ import annotations

import hashlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "support"))
from edgeai_wire_testing import reference, serving, write_mlp

import edgeai_core.plugin as core_plugin
from edgeai_core.artifacts import Artifact
from edgeai_core.components import Context
from edgeai_core.errors import ArtifactError, RuntimeFailure
from edgeai_core.transports.tcp import TcpProtocol, TcpStream
from edgeai_core.wire import messages as msg
from edgeai_core.wire.client import Client, TargetError
from edgeai_core.wire.framing import ErrorCode
from edgeai_core.wire.server import ServerLimits, TargetServer

DATA = b"external weights " * 64  # 1088 bytes


def connect(port: int) -> Client:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    client = Client(TcpStream(sock, f"127.0.0.1:{port}"), timeout_s=10)
    client.hello()
    return client


@pytest.fixture
def model(tmp_path: Path) -> Artifact:
    """An npz-mlp with two companion files (the numpy runtime ignores them; the store must not)."""
    (tmp_path / "src").mkdir()
    base = write_mlp(tmp_path / "src" / "mlp.npz")
    (tmp_path / "src" / "mlp.npz.data").write_bytes(DATA)
    (tmp_path / "src" / "extra.bin").write_bytes(b"\x01\x02\x03")
    return Artifact(
        base.path, base.format, base.io, producer="test", files=("mlp.npz.data", "extra.bin")
    ).save()


def start(workdir: Path, **limits: Any) -> tuple[TargetServer, dict[str, Any], threading.Thread]:
    protocols = {r.name: r for r in core_plugin.edgeai_register_protocols()}
    runtimes = {r.name: r for r in core_plugin.edgeai_register_runtimes()}
    protocol = TcpProtocol(
        record=protocols["tcp"], params={"host": "127.0.0.1", "port": 0}, context=Context()
    )
    server = TargetServer(protocol, runtimes["numpy"], {}, workdir=workdir, limits=ServerLimits(**limits))
    event = server.listen()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    return server, event, thread


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[dict[str, Any]]:
    server, event, thread = start(tmp_path / "w")
    yield event
    server.stop()
    thread.join(10)


def remote_runtime(port: int) -> Any:
    from edgeai_core.remote import RemoteRuntime

    runtimes = {r.name: r for r in core_plugin.edgeai_register_runtimes()}
    protocols = {r.name: r for r in core_plugin.edgeai_register_protocols()}
    params = {"host": "127.0.0.1", "port": port}
    protocol = TcpProtocol(record=protocols["tcp"], params=params, context=Context())
    return RemoteRuntime(record=runtimes["numpy"], params={}, protocol=protocol, requested={})


def models_dir(event: dict[str, Any]) -> Path:
    return Path(event["workdir"]) / "models"


def entries(event: dict[str, Any]) -> list[str]:
    return sorted(p.name for p in models_dir(event).iterdir())


def test_hello_announces_companion_files_and_the_reply_round_trips() -> None:
    reply = msg.HelloReply(nonce=bytes(16), runtime="r", formats=("f",), max_frame_bytes=1, max_model_bytes=2,
                           model_files=True, auth_required=True)  # fmt: skip
    decoded = msg.HelloReply.decode(reply.encode())
    assert decoded.model_files and decoded.auth_required
    assert not msg.HelloReply.decode(msg.HelloReply(bytes(16), "r", ("f",), 1, 2).encode()).model_files


def test_every_file_is_uploaded_verified_and_placed_next_to_the_model(embedded: Any, model: Artifact) -> None:
    remote = remote_runtime(embedded["port"])
    seen: list[tuple[int, int]] = []
    try:
        info = remote.connect()
        assert info.model_files
        stored, load_ns = remote.upload(model, lambda done, total: seen.append((done, total)))
        assert stored == model.size_bytes == model.path.stat().st_size + len(DATA) + 3
        assert load_ns > 0
        assert seen[-1] == (stored, stored)
        folder = models_dir(embedded)
        assert (folder / "mlp.npz.data").read_bytes() == DATA
        assert (folder / "extra.bin").read_bytes() == b"\x01\x02\x03"
        stored_artifact = Artifact.load(folder / "mlp.npz")
        assert stored_artifact.files == ("mlp.npz.data", "extra.bin")
        assert stored_artifact.sha256() == model.sha256()
        x = np.full((2, 6), 0.5, np.float32)
        np.testing.assert_array_equal(remote.infer([x])[0], reference(model, x))
        assert remote.client is not None
        assert remote.client.iospec()["files"][0] == {
            "name": "mlp.npz.data",
            "size": len(DATA),
            "sha256": hashlib.sha256(DATA).hexdigest(),
        }
    finally:
        remote.close()


def declare(model: Artifact, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {**model.to_json(), "files": files}


def entry(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize(
    ("name", "code", "text"),
    [
        ("../evil.bin", ErrorCode.BAD_NAME, "model name '../evil.bin' contains a path separator"),
        ("sub/w.bin", ErrorCode.BAD_NAME, "model name 'sub/w.bin' contains a path separator"),
        ("..", ErrorCode.BAD_NAME, "model name '..' contains '..'"),
        ("w..bin", ErrorCode.BAD_NAME, "model name 'w..bin' contains '..'"),
        ("mlp.npz", ErrorCode.BAD_NAME, "IOSPEC: model file 'mlp.npz' is the model file's own name"),
        ("x.edgeai.json", ErrorCode.BAD_NAME, "ends with .edgeai.json (reserved for sidecars)"),
    ],
)
def test_bad_declared_names_are_refused(
    embedded: Any, model: Artifact, name: str, code: int, text: str
) -> None:
    with connect(embedded["port"]) as client:
        with pytest.raises(TargetError) as err:
            client.send_iospec(declare(model, [entry(name, b"x")]))
        assert err.value.code == code and text in err.value.target_message
    assert entries(embedded) == []


def test_a_name_declared_twice_is_refused(embedded: Any, model: Artifact) -> None:
    with connect(embedded["port"]) as client:
        with pytest.raises(TargetError, match=r"model file 'w\.bin' is declared twice") as err:
            client.send_iospec(declare(model, [entry("w.bin", b"a"), entry("w.bin", b"b")]))
        assert err.value.code == ErrorCode.BAD_NAME


@pytest.mark.parametrize(
    ("files", "text"),
    [
        ("w.bin", "'files' must be a list"),
        ([{"size": 1, "sha256": "0" * 64}], "every 'files' entry needs a string 'name'"),
        ([{"name": "w.bin", "size": -1, "sha256": "0" * 64}], "file w.bin: 'size' must be an integer >= 0"),
        ([{"name": "w.bin", "size": True, "sha256": "0" * 64}], "file w.bin: 'size' must be an integer >= 0"),
        ([{"name": "w.bin", "size": 1, "sha256": "A" * 64}], "file w.bin: 'sha256' must be 64 lowercase hex"),
        (
            [{"name": f"w{i}.bin", "size": 1, "sha256": "0" * 64} for i in range(65)],
            "65 model files declared",
        ),
    ],
)
def test_malformed_file_lists_are_bad_payloads(embedded: Any, model: Artifact, files: Any, text: str) -> None:
    with connect(embedded["port"]) as client:
        with pytest.raises(TargetError) as err:
            client.send_iospec(declare(model, files))
        assert err.value.code == ErrorCode.BAD_PAYLOAD and text in err.value.target_message


def test_a_file_whose_digest_differs_is_refused_and_deleted(
    embedded: Any, model: Artifact, tmp_path: Path
) -> None:
    tampered = tmp_path / "mlp.npz.data"
    tampered.write_bytes(DATA[:-1] + b"!")  # same size, other bytes
    with connect(embedded["port"]) as client:
        client.send_iospec(declare(model, [entry("mlp.npz.data", DATA)]))
        with pytest.raises(TargetError) as err:
            client.upload(tampered)
        assert err.value.code == ErrorCode.BAD_DIGEST
        assert err.value.target_message.startswith(
            f"model file mlp.npz.data has sha256 {hashlib.sha256(tampered.read_bytes()).hexdigest()}, "
            f"but IOSPEC declared {hashlib.sha256(DATA).hexdigest()}"
        )
        assert entries(embedded) == [], "the file and its .part are gone"
        # ... and the model file is not loaded without it
        with pytest.raises(TargetError) as err:
            client.upload(model.path)
        assert err.value.code == ErrorCode.UNEXPECTED
        assert "model mlp.npz needs its file mlp.npz.data, declared in IOSPEC but not uploaded" in str(
            err.value
        )
        # the session goes on: the right bytes are accepted
        client.upload(model.companions[0])
        client.upload(model.path)
        x = np.ones((1, 6), np.float32)
        np.testing.assert_array_equal(client.infer([x])[0][0], reference(model, x))


def test_a_file_whose_size_differs_is_refused_before_it_is_stored(embedded: Any, model: Artifact) -> None:
    with connect(embedded["port"]) as client:
        client.send_iospec(declare(model, [{**entry("mlp.npz.data", DATA), "size": 5}]))
        with pytest.raises(TargetError) as err:
            client.upload(model.companions[0])
        assert err.value.code == ErrorCode.BAD_DIGEST
        assert (
            err.value.target_message
            == f"model file mlp.npz.data has {len(DATA)} bytes, but IOSPEC declared 5"
        )
        assert entries(embedded) == []


def test_the_model_limit_counts_every_file(tmp_path: Path, model: Artifact) -> None:
    primary = model.path.stat().st_size
    limit = primary + len(DATA)  # model plus the first companion fit, the 3-byte second does not
    server, event, thread = start(tmp_path / "w", max_model_bytes=limit)
    client = connect(event["port"])
    try:
        # declared companions alone over the limit: refused at IOSPEC
        with pytest.raises(TargetError) as err:
            client.send_iospec(
                declare(model, [entry("huge.bin", b""), {**entry("h2", b""), "size": limit + 1}])
            )
        assert (
            err.value.code == ErrorCode.MODEL_TOO_LARGE and "all files together" in err.value.target_message
        )
        # companions fit, but with the model file they do not: the model's MODEL names the total
        client.send_iospec(model.to_json())
        for path, name in zip(model.companions, model.files, strict=True):
            client.upload(path, name=name)
        with pytest.raises(TargetError) as err:
            client.upload(model.path, check_limit=False)
        assert err.value.code == ErrorCode.MODEL_TOO_LARGE
        assert f"model mlp.npz has {limit + 3} bytes with its 2 files" in err.value.target_message
    finally:
        client.close()
        server.stop()
        thread.join(10)


def test_the_host_refuses_a_target_without_companion_support(embedded: Any, model: Artifact) -> None:
    remote = remote_runtime(embedded["port"])
    try:
        remote.connect()
        assert remote.info is not None
        object.__setattr__(remote.info, "model_files", False)  # what an older target says
        with pytest.raises(RuntimeFailure, match=r"needs 2 more file\(s\) \(mlp.npz.data, extra.bin\).*does not "
                           "accept models with companion files"):  # fmt: skip
            remote.upload(model)
    finally:
        remote.close()
    assert entries(embedded) == []


def test_a_companion_in_a_subfolder_cannot_be_uploaded(
    tmp_path: Path, model: Artifact, embedded: Any
) -> None:
    (model.path.parent / "w").mkdir()
    (model.path.parent / "w" / "x.bin").write_bytes(b"1")
    nested = Artifact(model.path, model.format, model.io, files=("w/x.bin",))
    remote = remote_runtime(embedded["port"])
    try:
        remote.connect()
        with pytest.raises(ArtifactError, match=r"its file 'w/x.bin' cannot be uploaded"):
            remote.upload(nested)
    finally:
        remote.close()


def test_allowed_models_needs_every_files_digest(tmp_path: Path, model: Artifact) -> None:
    server, event, thread = start(tmp_path / "w")
    server.allowed_models = frozenset({hashlib.sha256(model.path.read_bytes()).hexdigest()})
    client = connect(event["port"])
    try:
        client.send_iospec(model.to_json())
        with pytest.raises(TargetError) as err:
            client.upload(model.companions[0])
        assert (
            err.value.code == ErrorCode.NOT_ALLOWED
            and "model mlp.npz.data (sha256" in err.value.target_message
        )
        assert entries(event) == []
    finally:
        client.close()
        server.stop()
        thread.join(10)


@pytest.mark.subprocess
def test_companion_files_are_deleted_with_the_session(tmp_path: Path, model: Artifact) -> None:
    with serving(["--protocol", "tcp", "--runtime", "numpy", "--port", "0"], tmp_path / "w") as server:
        workdir = Path(server.event["workdir"])
        client = connect(server.port)
        client.send_iospec(model.to_json())
        for path, name in zip(model.companions, model.files, strict=True):
            client.upload(path, name=name)
        client.upload(model.path)
        names = sorted(p.name for p in (workdir / "models").iterdir())
        assert names == ["extra.bin", "mlp.npz", "mlp.npz.data", "mlp.npz.edgeai.json"]
        client.bye()
        client.close()
        deadline = time.monotonic() + 10
        while list((workdir / "models").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list((workdir / "models").iterdir()) == []


def test_the_workdir_quota_counts_companion_files(tmp_path: Path, model: Artifact) -> None:
    # room for the data file alone: once it is stored, the next companion does not fit
    server, event, thread = start(tmp_path / "w", workdir_quota_bytes=len(DATA) + 2)
    client = connect(event["port"])
    try:
        client.send_iospec(model.to_json())
        client.upload(model.companions[0], name="mlp.npz.data")
        with pytest.raises(TargetError) as err:
            client.upload(model.companions[1], name="extra.bin")
        assert err.value.code == ErrorCode.QUOTA_EXCEEDED
        assert err.value.target_message.startswith(
            "model extra.bin has 3 bytes, and the target's work directory"
        )
        assert "edgeai serve --workdir-quota-mb" in err.value.target_message
        assert entries(event) == ["mlp.npz.data"], "the verified companion is kept, no .part is left"
    finally:
        client.close()
        server.stop()
        thread.join(10)


def test_a_failed_re_upload_of_a_companion_leaves_it_missing(
    embedded: Any, model: Artifact, tmp_path: Path
) -> None:
    tampered = tmp_path / "mlp.npz.data"
    tampered.write_bytes(DATA[:-1] + b"!")
    with connect(embedded["port"]) as client:
        client.send_iospec(declare(model, [entry("mlp.npz.data", DATA)]))
        client.upload(model.companions[0])
        with pytest.raises(TargetError) as err:
            client.upload(tampered)  # replaces the verified file: refused, and the good one is gone too
        assert err.value.code == ErrorCode.BAD_DIGEST
        with pytest.raises(TargetError) as err:
            client.upload(model.path)
        assert (
            err.value.code == ErrorCode.UNEXPECTED
            and "needs its file mlp.npz.data" in err.value.target_message
        )
