"""Tests of edgeai_core.artifacts: IO specs, artifact sidecars, hashing and atomic JSON writes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeai_core.artifacts import (
    DTYPES,
    SIDECAR_SUFFIX,
    SIDECAR_VERSION,
    Artifact,
    IOSpec,
    TensorSpec,
    sidecar_path,
    tensor_specs,
    write_json_atomic,
)
from edgeai_core.errors import ArtifactError, EdgeaiError


def make_io() -> IOSpec:
    return IOSpec(
        inputs=(
            TensorSpec("image", (None, 3, 32, 32), "float32", layout="NCHW"),
            TensorSpec("mask", ("batch", 8), "uint8", scale=0.5, zero_point=128),
        ),
        outputs=(TensorSpec("logits", (None, 10), "int8", scale=[0.1, 0.2], zero_point=[0, -1]),),
    )


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# ------------------------------------------------------------------------------------------ IO specs


def test_tensor_spec_round_trip() -> None:
    spec = TensorSpec("logits", [None, 10], "int8", scale=[0.1, 0.2], zero_point=[0, -1], layout="NC")
    assert spec.shape == (None, 10)
    assert spec.scale == (0.1, 0.2)
    assert spec.zero_point == (0, -1)
    assert isinstance(spec.scale, tuple)
    assert spec.quantized
    assert not spec.static
    data = spec.to_json()
    assert data == {
        "name": "logits",
        "shape": [None, 10],
        "dtype": "int8",
        "scale": [0.1, 0.2],
        "zero_point": [0, -1],
        "layout": "NC",
    }
    back = TensorSpec.from_json(json.loads(json.dumps(data)))
    assert back == spec
    assert isinstance(back.scale, tuple)
    assert isinstance(back.zero_point, tuple)
    hash(back)


def test_tensor_spec_scalar_quantization_and_plain() -> None:
    q = TensorSpec("x", (1, 4), "uint8", scale=0.5, zero_point=3)
    assert TensorSpec.from_json(q.to_json()) == q
    assert q.static
    plain = TensorSpec("x", (1, 4), "float32")
    assert not plain.quantized
    assert plain.to_json() == {"name": "x", "shape": [1, 4], "dtype": "float32"}
    assert TensorSpec.from_json(plain.to_json()) == plain


def test_io_spec_round_trip() -> None:
    io = make_io()
    text = json.dumps(io.to_json(), allow_nan=False)
    back = IOSpec.from_json(json.loads(text))
    assert back == io
    assert back.outputs[0].scale == (0.1, 0.2)
    assert back.inputs[1].shape == ("batch", 8)
    listed = IOSpec(inputs=[TensorSpec("a", (1,), "bool")], outputs=[])  # type: ignore[arg-type]
    assert listed.inputs == (TensorSpec("a", (1,), "bool"),)
    assert listed.outputs == ()


def test_tensor_specs_helper() -> None:
    specs = tensor_specs(["a", "b"], [(None, 2), [1]], ["float32", "int64"])
    assert specs == (TensorSpec("a", (None, 2), "float32"), TensorSpec("b", (1,), "int64"))
    with pytest.raises(ValueError):
        tensor_specs(["a"], [(1,), (2,)], ["float32"])


@pytest.mark.parametrize("dtype", ["f32", "float", "int4", ""])
def test_unknown_dtype(dtype: str) -> None:
    with pytest.raises(ArtifactError) as info:
        TensorSpec("input_0", (1,), dtype)
    assert "input_0" in str(info.value)
    assert f"unknown dtype '{dtype}'" in str(info.value)
    assert "float32" in str(info.value)


def test_all_dtypes_known() -> None:
    for dtype in DTYPES:
        assert TensorSpec("t", (1,), dtype).dtype == dtype


@pytest.mark.parametrize(
    "data",
    [
        {"shape": [1], "dtype": "float32"},
        {"name": "x", "dtype": "float32"},
        {"name": "x", "shape": [1]},
        {"name": "x", "shape": 3, "dtype": "float32"},
        "x",
        [1, 2],
    ],
)
def test_malformed_tensor_spec(data: Any) -> None:
    with pytest.raises(ArtifactError, match="malformed"):
        IOSpec.from_json({"inputs": [data], "outputs": []})


@pytest.mark.parametrize("data", [{"inputs": []}, {"outputs": []}, [], "io", {"inputs": 3, "outputs": []}])
def test_malformed_io_spec(data: Any) -> None:
    with pytest.raises(ArtifactError, match="malformed"):
        IOSpec.from_json(data)


def test_concrete_shape() -> None:
    assert TensorSpec("x", (None, 3, 4), "float32").concrete_shape() == (1, 3, 4)
    assert TensorSpec("x", (None, 3, 4), "float32").concrete_shape(batch=8) == (8, 3, 4)
    assert TensorSpec("x", ("batch", 3), "float32").concrete_shape(batch=2) == (2, 3)
    assert TensorSpec("x", (-1, 3), "float32").concrete_shape(batch=5) == (5, 3)
    assert TensorSpec("x", (2, 3), "float32").concrete_shape(batch=7) == (2, 3)
    assert TensorSpec("x", (), "float32").concrete_shape() == ()


@pytest.mark.parametrize("shape", [(1, None), (None, "width"), (1, 3, -1)])
def test_concrete_shape_dynamic_non_batch_dim(shape: tuple[Any, ...]) -> None:
    with pytest.raises(ArtifactError) as info:
        TensorSpec("pixels", shape, "float32").concrete_shape()
    assert "tensor 'pixels'" in str(info.value)
    assert f"dimension {len(shape) - 1}" in str(info.value)


# ------------------------------------------------------------------------------------------ artifacts


def make_artifact(tmp_path: Path, name: str = "model.onnx", content: bytes = b"model-bytes") -> Artifact:
    path = tmp_path / name
    path.write_bytes(content)
    return Artifact(
        path=path,
        format="onnx",
        io=make_io(),
        producer="compiler:onnx-quantize",
        versions={"onnx": "1.16.0", "edgeai-core": "0.1.0"},
        metadata={"opset": 17, "mode": "static", "per_channel": True},
    )


def test_save_load_round_trip(tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path)
    assert artifact.save() is artifact
    side = tmp_path / f"model.onnx{SIDECAR_SUFFIX}"
    assert artifact.sidecar == side
    assert sidecar_path(artifact.path) == side
    assert side.name == "model.onnx.edgeai.json"
    assert side.is_file()
    data = json.loads(side.read_text())
    assert data["sidecar_version"] == SIDECAR_VERSION
    assert data["file"] == "model.onnx"
    assert data["format"] == "onnx"
    assert data["producer"] == "compiler:onnx-quantize"

    loaded = Artifact.load(artifact.path)
    assert loaded == artifact
    assert loaded.io.outputs[0].scale == (0.1, 0.2)
    assert loaded.metadata["opset"] == 17
    assert Artifact.load(str(artifact.path)) == artifact
    assert loaded.describe() == {
        "path": str(artifact.path),
        "format": "onnx",
        "size_bytes": len(b"model-bytes"),
    }


def test_load_via_sidecar_path(tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path).save()
    loaded = Artifact.load(artifact.sidecar)
    assert loaded.path == artifact.path
    assert loaded == artifact


def test_save_overwrites_sidecar(tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path).save()
    replaced = Artifact(path=artifact.path, format="onnx-int8", io=artifact.io).save()
    loaded = Artifact.load(artifact.path)
    assert loaded == replaced
    assert loaded.producer == ""
    assert dict(loaded.versions) == {}


def test_save_without_model_file(tmp_path: Path) -> None:
    artifact = Artifact(path=tmp_path / "absent.onnx", format="onnx", io=make_io())
    with pytest.raises(ArtifactError, match="does not exist"):
        artifact.save()
    assert not artifact.sidecar.exists()


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist") as info:
        Artifact.load(tmp_path / "absent.onnx")
    assert "absent.onnx" in str(info.value)
    assert isinstance(info.value, EdgeaiError)


def test_load_missing_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"x")
    with pytest.raises(ArtifactError) as info:
        Artifact.load(path)
    message = str(info.value)
    assert "model.tflite.edgeai.json" in message
    assert "not written by edgeai" in message


def test_load_corrupt_sidecar(tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path)
    artifact.sidecar.write_text('{"format": "onnx", "io": ')
    with pytest.raises(ArtifactError, match="unreadable") as info:
        Artifact.load(artifact.path)
    assert str(artifact.sidecar) in str(info.value)


@pytest.mark.parametrize("content", [{"format": "onnx"}, {"io": {"inputs": [], "outputs": []}}, [1], "text"])
def test_load_sidecar_missing_keys(tmp_path: Path, content: Any) -> None:
    artifact = make_artifact(tmp_path)
    artifact.sidecar.write_text(json.dumps(content))
    with pytest.raises(ArtifactError, match="lacks 'format' or 'io'"):
        Artifact.load(artifact.path)


@pytest.mark.parametrize(
    "extra",
    [
        {"io": {"inputs": ["x"], "outputs": []}},
        {"io": {"inputs": [{"name": "x", "shape": [1], "dtype": "f32"}], "outputs": []}},
        {"versions": "1.0"},
        {"metadata": [1, 2]},
    ],
)
def test_load_sidecar_malformed_values(tmp_path: Path, extra: dict[str, Any]) -> None:
    artifact = make_artifact(tmp_path)
    data = {**artifact.to_json(), **extra}
    artifact.sidecar.write_text(json.dumps(data))
    with pytest.raises(ArtifactError):
        Artifact.load(artifact.path)


def test_size_and_sha256_of_file(tmp_path: Path) -> None:
    content = b"\x00\x01edgeai" * 1000
    artifact = make_artifact(tmp_path, content=content).save()
    assert artifact.size_bytes == len(content)
    assert artifact.sha256() == hashlib.sha256(content).hexdigest()  # the sidecar is not part of it


def make_dir_artifact(root: Path, files: dict[str, bytes]) -> Artifact:
    root.mkdir()
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return Artifact(path=root, format="saved-model", io=make_io())


def test_size_and_sha256_of_directory(tmp_path: Path) -> None:
    files = {"saved_model.pb": b"graph", "variables/variables.index": b"idx", "variables/data": b"d" * 100}
    artifact = make_dir_artifact(tmp_path / "model", files).save()
    assert artifact.sidecar == tmp_path / "model.edgeai.json"
    assert artifact.size_bytes == sum(len(c) for c in files.values())
    digest = artifact.sha256()
    assert len(digest) == 64
    int(digest, 16)
    # deterministic, independent of creation order
    same = make_dir_artifact(tmp_path / "same", dict(reversed(list(files.items()))))
    assert same.sha256() == digest
    # any content change shows
    (tmp_path / "same" / "variables" / "data").write_bytes(b"d" * 99 + b"e")
    assert same.sha256() != digest
    assert Artifact.load(artifact.path) == artifact


def test_directory_sha256_depends_on_names_and_boundaries(tmp_path: Path) -> None:
    base = make_dir_artifact(tmp_path / "a", {"x.bin": b"ab", "y.bin": b""}).sha256()
    moved_bytes = make_dir_artifact(tmp_path / "b", {"x.bin": b"a", "y.bin": b"b"}).sha256()
    renamed = make_dir_artifact(tmp_path / "c", {"z.bin": b"ab", "y.bin": b""}).sha256()
    assert len({base, moved_bytes, renamed}) == 3


def test_empty_directory(tmp_path: Path) -> None:
    artifact = make_dir_artifact(tmp_path / "empty", {})
    assert artifact.size_bytes == 0
    assert artifact.sha256() == hashlib.sha256().hexdigest()


# ------------------------------------------------------------------------------------ atomic writes


def test_write_json_atomic(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "sub" / "results.json"
    write_json_atomic(target, {"a": [1, 2.5], "b": None})
    assert json.loads(target.read_text()) == {"a": [1, 2.5], "b": None}
    assert target.read_text().endswith("\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.json"]
    write_json_atomic(target, {"a": 2}, indent=None)
    assert target.read_text() == '{"a": 2}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.json"]


def test_write_json_atomic_respects_other_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        target = tmp_path / "private.json"
        write_json_atomic(target, [])
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.umask(old) == old  # the umask is restored after the write


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {"x": [float("-inf")]}])
def test_write_json_atomic_refuses_nan(tmp_path: Path, bad: Any) -> None:
    target = tmp_path / "results.json"
    write_json_atomic(target, {"old": True})
    with pytest.raises(ValueError):
        write_json_atomic(target, {"value": bad})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_write_json_atomic_unserializable_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.json"
    with pytest.raises(TypeError):
        write_json_atomic(target, {"value": object()})
    assert list(tmp_path.iterdir()) == []
