"""The onnx-file model: validation, copying, IO spec from the graph, overrides, normalization metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeai_core.artifacts import Artifact
from edgeai_core.errors import ArtifactError, EdgeaiError, ParameterError


@pytest.fixture
def two_io(testkit: Any, tmp_path: Path) -> Path:
    """Inputs a (N, 3, H, W) and b (N, 3, 1, 1); outputs sum = a + b and scaled = a * 2."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "two"], ["scaled"])],
        "two_io",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3, "H", "W"]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3, 1, 1]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 3, "H", "W"]),
            helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["N", 3, "H", "W"]),
        ],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    return testkit.save_model(graph, tmp_path / "two_io.onnx")


def test_io_spec_from_graph_with_symbolic_batch(make: Any, cnn_onnx: Path) -> None:
    model = make("model", "onnx-file", path=str(cnn_onnx))
    artifact = model.prepare(None)
    assert artifact.path == model.context.workdir / "cnn.onnx"
    assert artifact.path.read_bytes() == cnn_onnx.read_bytes()
    assert [(t.name, t.shape, t.dtype, t.layout) for t in artifact.io.inputs] == [
        ("input", (None, 1, 8, 8), "float32", None)
    ]
    assert [(t.name, t.shape, t.dtype) for t in artifact.io.outputs] == [("logits", (None, 10), "float32")]
    assert artifact.format == "onnx" and artifact.producer == "model:onnx-file"
    assert artifact.metadata["source"] == str(cnn_onnx)
    assert artifact.metadata["opsets"] == {"ai.onnx": 17} and artifact.metadata["ir_version"] == 8
    assert "input_normalization" not in artifact.metadata
    assert Artifact.load(artifact.path).io == artifact.io
    assert model.record.trainable is False and model.record.tasks == ("any",)
    with pytest.raises(EdgeaiError, match="cannot be trained"):
        model.train(None)


def test_selection_and_order_overrides(make: Any, two_io: Path) -> None:
    default = make("model", "onnx-file", path=str(two_io)).prepare(None)
    assert [t.name for t in default.io.inputs] == ["a", "b"]
    assert [t.name for t in default.io.outputs] == ["sum", "scaled"]
    assert default.io.inputs[0].shape == (None, 3, None, None)
    picked = make(
        "model",
        "onnx-file",
        path=str(two_io),
        input_names=["b", "a"],
        output_names=["scaled"],
        input_shape=[2, 3, 1, 1],
    ).prepare(None)
    assert [(t.name, t.shape) for t in picked.io.inputs] == [
        ("b", (2, 3, 1, 1)),
        ("a", (None, 3, None, None)),
    ]
    assert [t.name for t in picked.io.outputs] == ["scaled"]
    runtime = make("runtime", "onnxruntime")
    runtime.load(picked)
    b = np.ones((2, 3, 1, 1), np.float32)
    a = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    (scaled,) = runtime.infer([b, a])
    np.testing.assert_array_equal(scaled, a * 2)


def test_input_shape_pins_symbolic_dims_only(make: Any, two_io: Path, cnn_onnx: Path) -> None:
    pinned = make("model", "onnx-file", path=str(two_io), input_shape=[1, 3, 32, 32]).prepare(None)
    assert pinned.io.inputs[0].shape == (1, 3, 32, 32)
    with pytest.raises(ParameterError) as exc:
        make("model", "onnx-file", path=str(cnn_onnx), input_shape=[1, 3, 8, 8]).prepare(None)
    assert exc.value.field == "model.input_shape"
    assert str(exc.value) == (
        "model.input_shape: (1, 3, 8, 8) contradicts the fixed dimension(s) [1] of input 'input' (?, 1, 8, 8)"
    )
    with pytest.raises(
        ParameterError, match=r"^model.input_shape: has 3 dimensions, but input 'input' has rank 4"
    ):
        make("model", "onnx-file", path=str(cnn_onnx), input_shape=[1, 8, 8]).prepare(None)


def test_unknown_names_are_parameter_errors(make: Any, two_io: Path) -> None:
    with pytest.raises(ParameterError) as exc:
        make("model", "onnx-file", path=str(two_io), input_names=["image"]).prepare(None)
    assert exc.value.field == "model.input_names"
    assert "the graph has no input named 'image' (its inputs: a, b)" in str(exc.value)
    with pytest.raises(ParameterError, match=r"^model.output_names: the graph has no output named 'probs'"):
        make("model", "onnx-file", path=str(two_io), output_names=["probs"]).prepare(None)


@pytest.mark.parametrize(("layout", "axis"), [("NCHW", 1), ("NHWC", -1), (None, 1)])
def test_normalization_and_layout_are_recorded(
    make: Any, two_io: Path, layout: str | None, axis: int
) -> None:
    params: dict[str, Any] = {
        "path": str(two_io),
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }
    if layout:
        params["layout"] = layout
    if layout == "NHWC":
        params["input_shape"] = [1, 3, 3, 3]  # so that the last axis has 3 channels too
    artifact = make("model", "onnx-file", **params).prepare(None)
    assert artifact.metadata["input_normalization"] == {
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "axis": axis,
    }
    assert artifact.io.inputs[0].layout == layout
    sidecar = json.loads(artifact.sidecar.read_text())
    assert sidecar["metadata"]["input_normalization"]["axis"] == axis
    if layout:
        assert sidecar["io"]["inputs"][0]["layout"] == layout


def test_normalization_errors(make: Any, testkit: Any, two_io: Path, cnn_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ParameterError, match=r"^model.mean: has 2 values, but input 'a' has 3 channels on axis 1"
    ):
        make("model", "onnx-file", path=str(two_io), mean=[0.5, 0.5], std=[0.2]).prepare(None)
    with pytest.raises(ParameterError, match=r"^model.std: must not contain 0"):
        make("model", "onnx-file", path=str(two_io), mean=[0.5], std=[0.0]).prepare(None)
    only_std = make("model", "onnx-file", path=str(cnn_onnx), std=[0.5]).prepare(None)
    assert only_std.metadata["input_normalization"] == {"mean": [0.0], "std": [0.5], "axis": 1}
    flat = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "flat",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    path = testkit.save_model(flat, tmp_path / "flat.onnx")
    with pytest.raises(
        ParameterError, match=r"^model.layout: NHWC describes 4-d image inputs, but input 'x' has"
    ):
        make("model", "onnx-file", path=str(path), layout="NHWC").prepare(None)


def test_missing_path_names_the_field(make: Any, tmp_path: Path) -> None:
    missing = tmp_path / "absent.onnx"
    with pytest.raises(ArtifactError) as exc:
        make("model", "onnx-file", path=str(missing)).prepare(None)
    assert str(exc.value) == f"model.path: {missing} does not exist; give the path of your .onnx model file"
    with pytest.raises(ParameterError, match=r"^model.path: is required"):
        make("model", "onnx-file")


def test_invalid_file_is_refused(make: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model at all")
    with pytest.raises(ArtifactError, match=rf"^{bad} is not a valid ONNX model: "):
        make("model", "onnx-file", path=str(bad)).prepare(None)


def test_external_data_is_copied(make: Any, cnn_onnx: Path, tmp_path: Path, digits: Any) -> None:
    folder = tmp_path / "user"
    folder.mkdir()
    source = folder / "big.onnx"
    onnx.save(
        onnx.load(str(cnn_onnx)),
        str(source),
        save_as_external_data=True,
        location="big.weights",
        size_threshold=0,
    )
    artifact = make("model", "onnx-file", path=str(source)).prepare(None)
    assert artifact.metadata["external_data"] == ["big.weights"]
    copied = artifact.path.parent / "big.weights"
    assert copied.read_bytes() == (folder / "big.weights").read_bytes()
    (folder / "big.weights").unlink()  # the runtime must read the copy
    runtime = make("runtime", "onnxruntime")
    runtime.load(artifact)
    x = digits.split("test").input[:3]
    assert runtime.infer([x])[0].shape == (3, 10)


def test_external_data_outside_the_folder_is_refused(make: Any, cnn_onnx: Path, tmp_path: Path) -> None:
    from edgeai_onnx.model import OnnxFile

    with pytest.raises(ArtifactError, match=r"keeps tensor data in '../w.bin', outside its folder"):
        OnnxFile._copy(cnn_onnx, tmp_path / "copy.onnx", ["../w.bin"])
    with pytest.raises(ArtifactError, match=r"needs its external data file .*gone.bin, which is missing"):
        OnnxFile._copy(cnn_onnx, tmp_path / "copy.onnx", ["gone.bin"])
