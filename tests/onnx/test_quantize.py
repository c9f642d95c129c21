"""onnx-quantize on a CNN trained on scikit-learn's digits (exported with torch's dynamo exporter)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper

from edgeai_core.artifacts import Artifact
from edgeai_core.errors import DatasetError
from edgeai_onnx.checks import validate_onnx

METADATA_KEYS = {
    "mode",
    "per_channel",
    "calibration_method",
    "calibration_samples",
    "activation_type",
    "weight_type",
    "quant_format",
    "preprocess",
    "size_before",
    "size_after",
}


@pytest.fixture(scope="module")
def source(testkit: Any, cnn_dynamo: Path) -> Artifact:
    return testkit.artifact_for(cnn_dynamo, metadata={"trained_by": "tests"})


def _infer(make: Any, artifact: Artifact, x: np.ndarray) -> np.ndarray:
    runtime = make("runtime", "onnxruntime")
    runtime.load(artifact)
    return runtime.infer([x])[0]


def _ops(path: Path) -> Counter[str]:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def test_static_int8_keeps_accuracy(make: Any, testkit: Any, source: Artifact, digits: Any) -> None:
    test = digits.split("test")
    quantized = make("compiler", "onnx-quantize").compile(source, digits)
    ops = _ops(quantized.path)
    assert ops["QuantizeLinear"] >= 3 and ops["DequantizeLinear"] >= 6
    assert quantized.path.parent == quantized.sidecar.parent and quantized.sidecar.is_file()
    assert quantized.format == "onnx" and quantized.producer == "compiler:onnx-quantize"
    assert quantized.io == source.io  # QDQ keeps float inputs and outputs
    assert quantized.size_bytes < 0.5 * source.size_bytes
    float_acc = testkit.accuracy(_infer(make, source, test.input), test.targets)
    int8_acc = testkit.accuracy(_infer(make, quantized, test.input), test.targets)
    assert float_acc > 0.93
    assert abs(int8_acc - float_acc) <= 0.015, (float_acc, int8_acc)
    meta = quantized.metadata
    assert set(meta) >= METADATA_KEYS
    assert meta["trained_by"] == "tests"  # the input's metadata is carried on
    assert (meta["mode"], meta["per_channel"], meta["calibration_method"]) == ("static", True, "minmax")
    assert (meta["activation_type"], meta["weight_type"], meta["quant_format"]) == ("int8", "int8", "qdq")
    assert meta["calibration_samples"] == 200 and meta["preprocess"] is True
    assert (meta["size_before"], meta["size_after"]) == (source.size_bytes, quantized.size_bytes)
    assert Artifact.load(quantized.path).metadata == meta


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_calibration_methods(make: Any, testkit: Any, source: Artifact, digits: Any, method: str) -> None:
    test = digits.split("test")
    compiler = make(
        "compiler", "onnx-quantize", calibration_method=method, calibration_samples=40, preprocess=False
    )
    quantized = compiler.compile(source, digits)
    assert quantized.metadata["calibration_method"] == method
    assert quantized.metadata["calibration_samples"] == 40 and quantized.metadata["preprocess"] is False
    assert _ops(quantized.path)["QuantizeLinear"] >= 3
    float_acc = testkit.accuracy(_infer(make, source, test.input), test.targets)
    int8_acc = testkit.accuracy(_infer(make, quantized, test.input), test.targets)
    assert abs(int8_acc - float_acc) <= 0.02, (method, float_acc, int8_acc)


def test_dynamic_mode(make: Any, source: Artifact, digits: Any) -> None:
    """Dynamic int8: max |logit error| <= 3% of the largest logit, predictions agree on >= 98% of samples."""
    x = digits.split("test").input
    quantized = make("compiler", "onnx-quantize", mode="dynamic").compile(source, None)
    validate_onnx(quantized.path)
    assert _ops(quantized.path)["DynamicQuantizeLinear"] >= 1
    assert quantized.size_bytes < 0.5 * source.size_bytes
    reference, out = _infer(make, source, x), _infer(make, quantized, x)
    assert np.abs(out - reference).max() <= 0.03 * np.abs(reference).max()
    assert np.mean(out.argmax(1) == reference.argmax(1)) >= 0.98
    meta = quantized.metadata
    assert (meta["mode"], meta["calibration_method"], meta["quant_format"]) == ("dynamic", None, None)


def test_float16_mode_keeps_float32_io(make: Any, source: Artifact, digits: Any) -> None:
    """float16: max |logit error| <= 0.2% of the largest logit; inputs and outputs stay float32."""
    x = digits.split("test").input
    half = make("compiler", "onnx-quantize", mode="float16").compile(source, digits)
    model = validate_onnx(half.path)
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {onnx.TensorProto.FLOAT}
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert half.io == source.io
    assert 0.4 * source.size_bytes < half.size_bytes < 0.7 * source.size_bytes
    reference, out = _infer(make, source, x), _infer(make, half, x)
    assert out.dtype == np.float32
    assert np.abs(out - reference).max() <= 2e-3 * np.abs(reference).max()
    assert (half.metadata["mode"], half.metadata["weight_type"]) == ("float16", "float16")


def test_qoperator_format(make: Any, testkit: Any, source: Artifact, digits: Any) -> None:
    test = digits.split("test")
    quantized = make(
        "compiler", "onnx-quantize", quant_format="qoperator", activation_type="uint8", calibration_samples=40
    ).compile(source, digits)
    ops = _ops(quantized.path)
    assert ops["QLinearConv"] == 2 and ops["Conv"] == 0
    acc = testkit.accuracy(_infer(make, quantized, test.input), test.targets)
    assert abs(acc - testkit.accuracy(_infer(make, source, test.input), test.targets)) <= 0.015


def test_static_needs_a_dataset(make: Any, source: Artifact) -> None:
    with pytest.raises(
        DatasetError, match=r"mode static calibrates .* set the step's mode to dynamic or float16"
    ):
        make("compiler", "onnx-quantize").compile(source, None)


def test_calibration_shape_mismatch_names_both_shapes(make: Any, source: Artifact) -> None:
    wrong = make("dataset", "test-generated", shape=[3, 8, 8])
    with pytest.raises(DatasetError) as exc:
        make("compiler", "onnx-quantize").compile(source, wrong)
    assert str(exc.value) == (
        "dataset test-generated gives calibration samples of shape (3, 8, 8), but the model's input 'input' "
        "expects (1, 8, 8) per sample"
    )


def test_static_batch_models_calibrate_in_their_batch(
    make: Any, testkit: Any, cnn: Any, tmp_path: Path
) -> None:
    """A graph with a fixed batch of 4 gets calibration batches of 4 (20 samples -> 5 batches)."""
    fixed = testkit.artifact_for(testkit.cnn_to_onnx(cnn, tmp_path / "batch4.onnx", batch=4))
    data = make("dataset", "test-generated", samples=22)
    quantized = make("compiler", "onnx-quantize", calibration_samples=22).compile(fixed, data)
    assert quantized.metadata["calibration_samples"] == 20
    assert quantized.io.inputs[0].shape == (4, 1, 8, 8)
    assert _infer(make, quantized, np.zeros((4, 1, 8, 8), np.float32)).shape == (4, 10)


def test_invalid_input_model_is_refused(make: Any, source: Artifact, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(source.path.read_bytes()[:1000])
    from edgeai_core.errors import ArtifactError

    with pytest.raises(ArtifactError, match=r"broken\.onnx is not a valid ONNX model"):
        make("compiler", "onnx-quantize", mode="dynamic").compile(Artifact(broken, "onnx", source.io), None)


def test_symbolic_shape_inference_only_for_unshaped_graphs(
    make: Any, testkit: Any, source: Artifact, tmp_path: Path
) -> None:
    """The CNN is fully shaped by ONNX shape inference: no symbolic pass (no sympy/torch import). A graph
    with a tensor of unknown rank asks for it; when ONNX Runtime's pre-processing then fails, the step
    quantizes without it and records why."""
    import importlib.util

    from onnx import numpy_helper

    from edgeai_core.artifacts import IOSpec, TensorSpec
    from edgeai_onnx.quantize import _unshaped_tensors

    shaped = make("compiler", "onnx-quantize", mode="dynamic").compile(source, None)
    assert shaped.metadata["preprocess"] is True and shaped.metadata["symbolic_shape_inference"] is False
    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "target"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])],
        "unshaped",
        [
            helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("target", onnx.TensorProto.INT64, ["K"]),
        ],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3])],
        [weight],
    )
    path = testkit.save_model(graph, tmp_path / "unshaped.onnx")
    assert _unshaped_tensors(validate_onnx(path)) == ["r"]
    io = IOSpec(
        (TensorSpec("x", (None, 4), "float32"), TensorSpec("target", (None,), "int64")),
        (TensorSpec("y", (None, 3), "float32"),),
    )
    quantized = make("compiler", "onnx-quantize", mode="dynamic").compile(
        Artifact(path, "onnx", io).save(), None
    )
    meta = quantized.metadata
    if meta["preprocess"]:  # sympy missing: ONNX shape inference alone, which copes
        assert importlib.util.find_spec("sympy") is None and meta["symbolic_shape_inference"] is False
    else:  # symbolic shape inference cannot type Reshape by a runtime shape: ORT asserts
        assert meta["preprocess_error"] == "AssertionError"
    runtime = make("runtime", "onnxruntime")
    runtime.load(quantized)
    x = np.ones((2, 4), np.float32)
    (y,) = runtime.infer([x, np.array([2, 4], np.int64)])
    np.testing.assert_allclose(y, x @ numpy_helper.to_array(weight), atol=0.05)


def test_float16_without_the_converter_names_what_to_install(
    make: Any, source: Artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from edgeai_core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "onnxruntime.transformers.float16", None)  # import now fails
    with pytest.raises(MissingDependencyError) as exc:
        make("compiler", "onnx-quantize", mode="float16").compile(source, None)
    assert str(exc.value).startswith(
        "compiler:onnx-quantize (mode float16) needs 'onnxruntime.transformers.float16', which is not installed: "
        "pip install onnxruntime>=1.18"
    )
