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


# ------------------------------------------------------------------------------------------ multi-file


def make_multi(tmp_path: Path) -> Artifact:
    folder = tmp_path / "m"
    (folder / "weights").mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"graph")
    (folder / "model.onnx.data").write_bytes(b"0123456789")
    (folder / "weights" / "w.bin").write_bytes(b"abc")
    return Artifact(
        folder / "model.onnx", "onnx", make_io(), files=("model.onnx.data", "weights/w.bin")
    ).save()


def test_sizes_and_digests_count_every_file(tmp_path: Path) -> None:
    artifact = make_multi(tmp_path)
    assert artifact.size_bytes == 5 + 10 + 3
    before = artifact.sha256()
    single = Artifact(artifact.path, "onnx", make_io())
    assert single.sha256() == hashlib.sha256(b"graph").hexdigest() != before  # sha256sum for one file
    expected = hashlib.sha256(b"model.onnx\x005\x00graph" + b"model.onnx.data\x0010\x000123456789"
                              + b"weights/w.bin\x003\x00abc").hexdigest()  # fmt: skip
    assert before == expected
    (artifact.path.parent / "model.onnx.data").write_bytes(b"0123456788")
    assert artifact.sha256() != before, "a changed data file changes the artifact's digest"


def test_the_sidecar_lists_each_file_with_size_and_sha256(tmp_path: Path) -> None:
    artifact = make_multi(tmp_path)
    data = json.loads(artifact.sidecar.read_text())
    assert data["files"] == [
        {"name": "model.onnx.data", "size": 10, "sha256": hashlib.sha256(b"0123456789").hexdigest()},
        {"name": "weights/w.bin", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()},
    ]
    loaded = Artifact.load(artifact.path)
    assert loaded == artifact and loaded.files == ("model.onnx.data", "weights/w.bin")
    assert loaded.recorded == artifact.recorded
    loaded.verify()
    (artifact.path.parent / "weights" / "w.bin").write_bytes(b"abd")
    with pytest.raises(
        ArtifactError, match=r"file weights/w\.bin does not match the SHA-256 its sidecar recorded"
    ):
        loaded.verify()


def test_an_old_sidecar_without_files_is_a_single_file_artifact(tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path).save()
    data = json.loads(artifact.sidecar.read_text())
    assert "files" not in data
    loaded = Artifact.load(artifact.path)
    assert loaded.files == () and loaded.all_files == (artifact.path,)


def test_a_missing_companion_is_one_error_naming_it(tmp_path: Path) -> None:
    artifact = make_multi(tmp_path)
    (artifact.path.parent / "model.onnx.data").unlink()
    message = (
        f"artifact model.onnx needs its file model.onnx.data ({artifact.path.parent / 'model.onnx.data'}), "
    )
    with pytest.raises(ArtifactError) as err:
        Artifact.load(artifact.path)
    assert str(err.value) == message + "which is missing"
    with pytest.raises(ArtifactError, match=r"needs its file model\.onnx\.data"):
        _ = artifact.size_bytes


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../w.bin", "must be a relative path inside the model's folder"),
        ("/etc/passwd", "must be a relative path inside the model's folder"),
        ("a/../b", "must be a relative path inside the model's folder"),
        ("./w.bin", "must be a relative path inside the model's folder"),
        ("m.edgeai.json", "must be a relative path inside the model's folder"),
        ("model.onnx", "is the model file itself"),
    ],
)
def test_companion_names_stay_inside_the_models_folder(tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(ArtifactError, match=problem):
        Artifact(tmp_path / "model.onnx", "onnx", make_io(), files=(name,))
    with pytest.raises(ArtifactError, match="lists a companion file twice"):
        Artifact(tmp_path / "model.onnx", "onnx", make_io(), files=("a", "a"))


def test_a_sidecar_with_a_bad_files_entry_is_refused(tmp_path: Path) -> None:
    artifact = make_multi(tmp_path)
    data = json.loads(artifact.sidecar.read_text())
    artifact.sidecar.write_text(json.dumps({**data, "files": [{"name": "../x"}]}))
    with pytest.raises(ArtifactError, match=r"'\.\./x' must be a relative path"):
        Artifact.load(artifact.path)
    artifact.sidecar.write_text(json.dumps({**data, "files": "model.onnx.data"}))
    with pytest.raises(ArtifactError, match="'files' must be a list"):
        Artifact.load(artifact.path)


@pytest.mark.parametrize("move", [False, True])
def test_copying_or_moving_takes_every_file_and_the_sidecar(tmp_path: Path, move: bool) -> None:
    artifact = make_multi(tmp_path)
    digest = artifact.sha256()
    moved = artifact.move_to(tmp_path / "dst") if move else artifact.copy_to(tmp_path / "dst")
    assert moved.path == tmp_path / "dst" / "model.onnx"
    assert (tmp_path / "dst" / "weights" / "w.bin").read_bytes() == b"abc"
    assert Artifact.load(moved.path).sha256() == digest
    assert artifact.path.exists() is not move and artifact.sidecar.exists() is not move
    assert (artifact.path.parent / "model.onnx.data").exists() is not move


def test_results_records_count_and_list_every_file(tmp_path: Path) -> None:
    import jsonschema

    from edgeai_core.document import ArtifactRecord
    from edgeai_core.measurement import load_schema

    artifact = make_multi(tmp_path)
    record = ArtifactRecord.of(artifact, tmp_path).to_json()
    assert record == {
        "path": "m/model.onnx",
        "format": "onnx",
        "size_bytes": 18,
        "files": [
            {"name": "model.onnx", "size_bytes": 5},
            {"name": "model.onnx.data", "size_bytes": 10},
            {"name": "weights/w.bin", "size_bytes": 3},
        ],
    }
    schema = load_schema()
    artifact_schema = {**schema["$defs"]["artifact"], "$defs": schema["$defs"]}
    jsonschema.validate(record, artifact_schema)
    assert "files" not in ArtifactRecord.of(make_artifact(tmp_path), tmp_path).to_json()


@pytest.mark.parametrize("move", [False, True])
def test_a_directory_artifact_is_copied_or_moved_whole(tmp_path: Path, move: bool) -> None:
    saved = tmp_path / "src" / "saved_model"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"graph")
    (saved / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights!")
    artifact = Artifact(saved, "savedmodel", make_io()).save()
    assert artifact.size_bytes == 13
    digest = artifact.sha256()
    moved = artifact.move_to(tmp_path / "dst") if move else artifact.copy_to(tmp_path / "dst")
    assert moved.path == tmp_path / "dst" / "saved_model" and moved.size_bytes == 13
    assert Artifact.load(moved.path).sha256() == digest
    assert saved.exists() is not move and artifact.sidecar.exists() is not move
