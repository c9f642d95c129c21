"""The onnxruntime runtime: outputs, session options, input checks, bind(), providers, load errors, quantized IO."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.errors import ArtifactError, RuntimeFailure


@pytest.fixture
def cnn_artifact(testkit: Any, cnn_onnx: Path) -> Artifact:
    return testkit.artifact_for(cnn_onnx)


def _runtime(make: Any, artifact: Artifact, **params: Any) -> Any:
    runtime = make("runtime", "onnxruntime", **params)
    runtime.load(artifact)
    return runtime


def test_outputs_match_torch(make: Any, testkit: Any, cnn: Any, cnn_artifact: Artifact, digits: Any) -> None:
    x = digits.split("test").input[:64]
    runtime = _runtime(make, cnn_artifact)
    (logits,) = runtime.infer([x])
    assert logits.shape == (64, 10) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, testkit.torch_forward(cnn, x), rtol=0, atol=1e-5)
    assert runtime.io == cnn_artifact.io
    assert runtime.versions()["onnxruntime"] == ort.__version__


def test_dynamo_export_matches_torch(
    make: Any, testkit: Any, cnn: Any, cnn_dynamo: Path, digits: Any
) -> None:
    x = digits.split("test").input[:16]
    artifact = testkit.artifact_for(cnn_dynamo)
    assert artifact.io.inputs[0].shape == (None, 1, 8, 8)
    (logits,) = _runtime(make, artifact).infer([x])
    np.testing.assert_allclose(logits, testkit.torch_forward(cnn, x), rtol=0, atol=1e-5)


def test_params_reach_the_session_options(make: Any, cnn_artifact: Artifact) -> None:
    runtime = _runtime(
        make,
        cnn_artifact,
        threads=2,
        inter_op_threads=3,
        graph_optimization="basic",
        execution_mode="parallel",
    )
    for options in (runtime.options, runtime.session.get_session_options()):
        assert options.intra_op_num_threads == 2
        assert options.inter_op_num_threads == 3
        assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    defaults = _runtime(make, cnn_artifact).session.get_session_options()
    assert (defaults.intra_op_num_threads, defaults.inter_op_num_threads) == (1, 1)
    assert defaults.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert defaults.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    disabled = _runtime(make, cnn_artifact, graph_optimization="disable").session.get_session_options()
    assert disabled.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def test_wrong_input_shape_names_input_and_both_shapes(make: Any, cnn_artifact: Artifact) -> None:
    runtime = _runtime(make, cnn_artifact)
    with pytest.raises(RuntimeFailure) as exc:
        runtime.infer([np.zeros((1, 8, 8), np.float32)])
    assert str(exc.value) == "input 'input' expects shape (batch, 1, 8, 8), got (1, 8, 8)"
    with pytest.raises(
        RuntimeFailure, match=r"^input 'input' expects shape \(batch, 1, 8, 8\), got \(2, 3, 8, 8\)$"
    ):
        runtime.bind([np.zeros((2, 3, 8, 8), np.float32)])
    with pytest.raises(RuntimeFailure, match=r"^the model takes 1 input\(s\) \(input\), got 2$"):
        runtime.infer([np.zeros((1, 1, 8, 8), np.float32)] * 2)


def test_input_dtypes_are_converted_or_refused(make: Any, cnn_artifact: Artifact, digits: Any) -> None:
    runtime = _runtime(make, cnn_artifact)
    x = digits.split("test").input[:4]
    (as_float64,) = runtime.infer([x.astype(np.float64)])
    np.testing.assert_array_equal(as_float64, runtime.infer([x])[0])
    with pytest.raises(RuntimeFailure, match=r"^input 'input' expects float32 values, got complex64$"):
        runtime.infer([x.astype(np.complex64)])


def test_bind_is_exactly_session_run(make: Any, cnn_artifact: Artifact, digits: Any) -> None:
    runtime = _runtime(make, cnn_artifact)
    x = digits.split("test").input[10:11]
    call = runtime.bind([x.astype(np.float64)])  # converted in bind, not in the call
    assert isinstance(call, functools.partial)
    assert call.func == runtime.session.run
    assert call.args[0] == ["logits"]
    fed = call.args[1]["input"]
    assert fed.dtype == np.float32 and fed.flags.c_contiguous
    np.testing.assert_array_equal(call()[0], runtime.infer([x])[0])


def test_unknown_provider_lists_the_available_ones(make: Any, cnn_artifact: Artifact) -> None:
    runtime = make("runtime", "onnxruntime", providers=["NoSuchExecutionProvider"])
    with pytest.raises(RuntimeFailure) as exc:
        runtime.load(cnn_artifact)
    message = str(exc.value)
    assert message.startswith("runtime.providers: NoSuchExecutionProvider is not available")
    assert "CPUExecutionProvider" in message and "\n" not in message
    explicit = _runtime(make, cnn_artifact, providers=["CPUExecutionProvider"])
    assert explicit.session.get_providers() == ["CPUExecutionProvider"]


def test_corrupt_file_is_an_artifact_error(make: Any, cnn_artifact: Artifact, tmp_path: Path) -> None:
    path = tmp_path / "corrupt.onnx"
    data = cnn_artifact.path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    artifact = Artifact(path, "onnx", cnn_artifact.io)
    with pytest.raises(ArtifactError) as exc:
        make("runtime", "onnxruntime").load(artifact)
    assert str(exc.value).startswith(f"{path} is not a valid ONNX model: ")
    assert "\n" not in str(exc.value)


def test_valid_model_onnxruntime_cannot_run_is_a_runtime_failure(make: Any, tmp_path: Path) -> None:
    """The checker accepts ops of unknown domains; ONNX Runtime does not: a RuntimeFailure with its reason."""
    import onnx

    graph = helper.make_graph(
        [helper.make_node("MyOp", ["x"], ["y"], domain="com.example")],
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    path = tmp_path / "custom.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets, ir_version=8), str(path))
    io = IOSpec((TensorSpec("x", (1, 4), "float32"),), (TensorSpec("y", (1, 4), "float32"),))
    with pytest.raises(RuntimeFailure) as exc:
        make("runtime", "onnxruntime").load(Artifact(path, "onnx", io))
    assert str(exc.value) == (
        f"onnxruntime {ort.__version__} cannot load {path}: Load model from {path} failed:Fatal error: "
        "com.example:MyOp(-1) is not a registered function/op"
    )


def test_io_spec_must_match_the_graph(make: Any, cnn_artifact: Artifact, tmp_path: Path) -> None:
    renamed = Artifact(
        cnn_artifact.path,
        "onnx",
        IOSpec((TensorSpec("image", (None, 1, 8, 8), "float32"),), cnn_artifact.io.outputs),
    )
    with pytest.raises(RuntimeFailure, match=r"input\(s\) input that its IO spec does not feed"):
        make("runtime", "onnxruntime").load(renamed)
    wrong_format = Artifact(cnn_artifact.path, "tflite", cnn_artifact.io)
    with pytest.raises(RuntimeFailure, match=r"loads onnx models, not tflite"):
        make("runtime", "onnxruntime").load(wrong_format)


def test_quantized_io_is_converted_outside_the_timed_call(make: Any, testkit: Any, tmp_path: Path) -> None:
    """A model with uint8 input and int8 output: y_q = quantize(relu(dequantize(x_q)) * 2)."""
    graph = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x"]),
            helper.make_node("Relu", ["x"], ["r"]),
            helper.make_node("Mul", ["r", "two"], ["m"]),
            helper.make_node("QuantizeLinear", ["m", "y_scale", "y_zero"], ["y_q"]),
        ],
        "qio",
        [helper.make_tensor_value_info("x_q", TensorProto.UINT8, [None, 4])],
        [helper.make_tensor_value_info("y_q", TensorProto.INT8, [None, 4])],
        [
            helper.make_tensor("x_scale", TensorProto.FLOAT, [], [0.05]),
            helper.make_tensor("x_zero", TensorProto.UINT8, [], [128]),
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("y_scale", TensorProto.FLOAT, [], [0.1]),
            helper.make_tensor("y_zero", TensorProto.INT8, [], [-100]),
        ],
    )
    path = testkit.save_model(graph, tmp_path / "qio.onnx")
    io = IOSpec(
        (TensorSpec("x_q", (None, 4), "uint8", scale=0.05, zero_point=128),),
        (TensorSpec("y_q", (None, 4), "int8", scale=0.1, zero_point=-100),),
    )
    runtime = _runtime(make, Artifact(path, "onnx", io).save())
    x = np.array([[-1.0, 0.0, 0.5, 2.0], [3.0, -7.0, 0.05, 1.0]], np.float32)
    (y,) = runtime.infer([x])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, np.maximum(x, 0) * 2, atol=0.1)
    call = runtime.bind([x])
    fed = call.args[1]["x_q"]
    np.testing.assert_array_equal(fed, np.clip(np.rint(x / 0.05) + 128, 0, 255).astype(np.uint8))
    raw = call()[0]
    assert raw.dtype == np.int8  # the timed call returns the model's own integers
    np.testing.assert_allclose((raw.astype(np.float32) + 100) * 0.1, y, atol=1e-6)
    # integer data is fed as it is; an integer model input without scale refuses floats
    np.testing.assert_array_equal(runtime.bind([fed]).args[1]["x_q"], fed)
    plain = Artifact(path, "onnx", IOSpec((TensorSpec("x_q", (None, 4), "uint8"),), io.outputs))
    with pytest.raises(RuntimeFailure, match=r"expects uint8 values, got float32 \(its IO spec has no scale"):
        _runtime(make, plain).infer([x])


def test_close_releases_the_session(make: Any, cnn_artifact: Artifact) -> None:
    runtime = _runtime(make, cnn_artifact)
    runtime.close()
    with pytest.raises(RuntimeFailure, match="no model loaded"):
        runtime.infer([np.zeros((1, 1, 8, 8), np.float32)])


BLOCK_ONNX = """
import importlib.abc, sys

class BlockOnnx(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "onnx" or name.startswith("onnx."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, BlockOnnx())
"""


@pytest.mark.subprocess
def test_runtime_works_without_the_onnx_package(cnn_artifact: Artifact, tmp_path: Path) -> None:
    """A target device installs onnxruntime only: the runtime must not need `onnx` (imports blocked here)."""
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07garbage" * 50)
    script = BLOCK_ONNX + textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        import numpy as np
        from edgeai_core.artifacts import Artifact
        from edgeai_core.components import Context
        from edgeai_core.errors import ArtifactError
        from edgeai_core.plugins import PluginHost
        import edgeai_onnx.plugin

        host = PluginHost(discover=False, env={{}})
        host.register(edgeai_onnx.plugin, name="onnx")
        workdir = Path({str(tmp_path)!r})
        runtime = host.get("runtime", "onnxruntime").create({{}}, context=Context(workdir=workdir))
        artifact = Artifact.load({str(cnn_artifact.path)!r})
        runtime.load(artifact)
        out = runtime.infer([np.zeros((3, 1, 8, 8), np.float32)])[0]
        try:
            runtime.load(Artifact({str(garbage)!r}, "onnx", artifact.io))
            error = None
        except ArtifactError as exc:
            error = str(exc)
        print(json.dumps({{"shape": list(out.shape), "versions": runtime.versions(), "error": error,
                          "onnx_loaded": "onnx" in sys.modules}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shape"] == [3, 10]
    assert result["onnx_loaded"] is False
    assert result["versions"]["onnxruntime"] == ort.__version__
    assert result["error"].startswith(f"{garbage} is not a valid ONNX model: ")
    assert "Protobuf parsing failed" in result["error"]
