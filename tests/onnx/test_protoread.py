"""The framework-free ONNX reader agrees with the onnx package on every fact edgeai reads from a model file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeai_core.api import ArtifactError
from edgeai_onnx.checks import external_data_files, io_spec_from_model
from edgeai_onnx.protoread import io_spec_from_header, read_header


def facts_from_onnx(path: Path) -> dict[str, Any]:
    model = onnx.load(str(path), load_external_data=False)

    def value(v: onnx.ValueInfoProto) -> tuple[str, int, tuple[Any, ...]]:
        t = v.type.tensor_type
        dims = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
            for d in t.shape.dim
        )
        return v.name, t.elem_type, dims

    return {
        "ir_version": model.ir_version,
        "producer": (model.producer_name, model.producer_version),
        "opsets": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "inputs": [value(v) for v in model.graph.input],
        "outputs": [value(v) for v in model.graph.output],
        "initializers": {i.name for i in model.graph.initializer},
        "external": external_data_files(model),
    }


def facts_from_reader(path: Path) -> dict[str, Any]:
    h = read_header(path)
    return {
        "ir_version": h.ir_version,
        "producer": (h.producer_name, h.producer_version),
        "opsets": h.opsets,
        "inputs": [(v.name, v.elem_type, v.dims) for v in h.inputs],
        "outputs": [(v.name, v.elem_type, v.dims) for v in h.outputs],
        "initializers": set(h.initializers),
        "external": list(h.external_data),
    }


def with_subgraph_and_external(folder: Path) -> Path:
    """An If whose branches hold constant tensors, plus an initializer; every tensor saved externally."""
    rng = np.random.default_rng(0)
    then_c = numpy_helper.from_array(rng.standard_normal((2, 3)).astype(np.float32), "tc")
    else_c = numpy_helper.from_array(rng.standard_normal((2, 3)).astype(np.float32), "ec")
    then_g = helper.make_graph(
        [helper.make_node("Constant", [], ["t"], value=then_c)],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2, 3])],
    )
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value=else_c)],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 3])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("If", ["cond"], ["picked"], then_branch=then_g, else_branch=else_g),
            helper.make_node("Add", ["picked", "W"], ["y"]),
        ],
        "branchy",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("W", TensorProto.FLOAT, [2, 3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(np.ones((2, 3), np.float32), "W")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgeai-tests"
    )
    model.ir_version = 8
    path = folder / "branchy.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="branchy.bin", size_threshold=0)
    return path


def test_reader_agrees_with_onnx(cnn_onnx: Path, two_input_onnx: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    two = two_input_onnx(
        tmp_path / "two.onnx", rng.standard_normal((6, 3)).astype(np.float32), np.zeros(3, np.float32)
    )
    for path in (cnn_onnx, two, with_subgraph_and_external(tmp_path)):
        assert facts_from_reader(path) == facts_from_onnx(path), path
        assert io_spec_from_header(read_header(path)) == io_spec_from_model(onnx.load(str(path))), path


def test_external_data_in_subgraphs_is_found(tmp_path: Path) -> None:
    header = read_header(with_subgraph_and_external(tmp_path))
    assert header.external_data == ("branchy.bin",)
    assert header.inputs[0].dims == () and header.inputs[0].dtype == "bool"
    assert header.outputs[0].dims == ("batch", 3)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"not an onnx model at all", "does not parse as an ONNX protobuf"),
        (b"\x08\x08", "it has no graph"),
    ],
)
def test_bad_files_get_one_line_naming_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(ArtifactError, match=rf"^{bad} is not a valid ONNX model: .*{reason}") as info:
        read_header(bad)
    assert "\n" not in str(info.value)


def test_truncated_file_is_refused(cnn_onnx: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(cnn_onnx.read_bytes()[: cnn_onnx.stat().st_size // 2])
    with pytest.raises(ArtifactError, match="does not parse as an ONNX protobuf"):
        read_header(cut)


def test_structure_check_loads_without_the_onnx_package(
    cnn_onnx: Path, tmp_path: Path, python_stdout: Any
) -> None:
    """A target install (ONNX Runtime, no onnx package) loads a user's .onnx file through onnx-file."""
    code = f"""
import sys
sys.modules["onnx"] = None  # as if not installed: any import of it fails
from edgeai_onnx.protoread import read_header, io_spec_from_header
spec = io_spec_from_header(read_header({str(cnn_onnx)!r}))
print(spec.inputs[0].name, spec.inputs[0].shape, spec.outputs[0].shape)
"""
    expected = io_spec_from_model(onnx.load(str(cnn_onnx)))
    first, out = expected.inputs[0], expected.outputs[0]
    assert python_stdout(code).strip() == f"{first.name} {first.shape} {out.shape}"


def test_onnx_file_structure_check_gives_the_same_artifact(make: Any, cnn_onnx: Path) -> None:
    full = make("model", "onnx-file", path=str(cnn_onnx), check="full").prepare(None)
    light = make("model", "onnx-file", path=str(cnn_onnx), check="structure").prepare(None)
    assert light.io == full.io
    assert (full.metadata["check"], light.metadata["check"]) == ("onnx checker", "structure")
    assert {k: v for k, v in light.metadata.items() if k != "check"} == {
        k: v for k, v in full.metadata.items() if k != "check"
    }
