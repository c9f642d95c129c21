"""edgeai_onnx.checks: one-line errors for broken files, IO specs read from graphs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from edgeai_core.errors import ArtifactError
from edgeai_onnx.checks import external_data_files, io_spec_from_model, validate_onnx


def _one_line_about(exc: pytest.ExceptionInfo[ArtifactError], path: Path) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{path} is not a valid ONNX model: ")
    return message


def test_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ArtifactError) as exc:
        validate_onnx(path)
    assert "does not parse as an ONNX protobuf" in _one_line_about(exc, path)


def test_truncated_model(tmp_path: Path, cnn_onnx: Path) -> None:
    path = tmp_path / "truncated.onnx"
    data = cnn_onnx.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError) as exc:
        validate_onnx(path)
    assert "truncated, corrupt or not ONNX" in _one_line_about(exc, path)


def test_empty_file_fails_the_checker(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ArtifactError) as exc:
        validate_onnx(path)
    assert _one_line_about(exc, path).endswith("The model does not have an ir_version set properly.")


def test_graph_failing_the_checker(testkit: Any, tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["undefined"], ["y"])],
        "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = testkit.save_model(graph, tmp_path / "unsorted.onnx")
    with pytest.raises(ArtifactError) as exc:
        validate_onnx(path)
    message = _one_line_about(exc, path)
    assert "topologically sorted" in message and "'undefined'" in message


def test_graph_failing_shape_inference(testkit: Any, tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "mismatch",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor("w", TensorProto.FLOAT, [1, 3], [1.0, 2.0, 3.0])],
    )
    path = testkit.save_model(graph, tmp_path / "add.onnx")
    with pytest.raises(ArtifactError) as exc:
        validate_onnx(path)
    assert "Incompatible dimensions" in _one_line_about(exc, path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"nowhere\.onnx does not exist$"):
        validate_onnx(tmp_path / "nowhere.onnx")


def test_valid_model_comes_back_with_inferred_shapes(cnn_onnx: Path) -> None:
    model = validate_onnx(cnn_onnx)
    shapes = {
        v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
        for v in model.graph.value_info
    }
    assert shapes["c1"] == ["batch", 8, 8, 8]
    assert shapes["f"] == ["batch", 256]
    assert external_data_files(model) == []


def test_io_spec_from_graph(testkit: Any, tmp_path: Path) -> None:
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["image"], ["as_float"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["as_float", "bias"], ["scores"]),
            helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0),
        ],
        "io",
        [
            helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", 3, None]),
            helper.make_tensor_value_info("bias", TensorProto.FLOAT, [3, 1]),  # an initializer: not an input
        ],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 3, None]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["n", None]),
        ],
        [helper.make_tensor("bias", TensorProto.FLOAT, [3, 1], [0.0, 1.0, 2.0])],
    )
    io = io_spec_from_model(validate_onnx(testkit.save_model(graph, tmp_path / "io.onnx")))
    assert [(t.name, t.shape, t.dtype) for t in io.inputs] == [("image", (None, 3, None), "uint8")]
    assert [(t.name, t.shape, t.dtype) for t in io.outputs] == [
        ("scores", (None, 3, None), "float32"),
        ("label", (None, None), "int64"),
    ]


def test_io_spec_rejects_non_tensor_inputs(testkit: Any, tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("SequenceLength", ["seq"], ["n"])],
        "seq",
        [helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("n", TensorProto.INT64, [])],
    )
    model = validate_onnx(testkit.save_model(graph, tmp_path / "seq.onnx"))
    with pytest.raises(ArtifactError, match=r"^input 'seq' is a sequence_type, not a tensor"):
        io_spec_from_model(model)


def test_external_data_files_are_listed(cnn_onnx: Path, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(cnn_onnx))
    target = tmp_path / "ext" / "model.onnx"
    target.parent.mkdir()
    onnx.save(model, str(target), save_as_external_data=True, location="weights.bin", size_threshold=0)
    validate_onnx(target)  # the checker follows the location next to the file
    assert external_data_files(onnx.load(str(target), load_external_data=False)) == ["weights.bin"]
    os.remove(target.parent / "weights.bin")
    with pytest.raises(ArtifactError) as err:
        validate_onnx(target)
    # one line naming the file the model needs (no checker trace)
    assert (
        str(err.value)
        == f"{target} needs its external data file {target.parent / 'weights.bin'}, which is missing"
    )
