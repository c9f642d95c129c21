"""The ``tflite`` compiler on the Keras digits CNN trained once per session (see conftest.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.errors import DatasetError, MissingDependencyError, ParameterError

pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")


def evaluate(make: Any, artifact: Any, data: Any) -> tuple[float, np.ndarray]:
    """Accuracy on the test split and the outputs, through the tflite runtime."""
    runtime = make("runtime", "tflite")
    runtime.load(artifact)
    test = data.split("test")
    outputs = runtime.infer([test.input])[0]
    return float(np.mean(outputs.argmax(1) == test.targets)), outputs


@pytest.fixture(scope="module")
def results(tf_session: dict[str, Any], compiled: Any) -> dict[str, Any]:
    """Accuracy and outputs of the float and quantized models (each compiled once per session)."""
    make, data = tf_session["make"], tf_session["digits"]
    variants = {
        "float32": {"mode": "float32"},
        "float16": {"mode": "float16"},
        "dynamic": {"mode": "dynamic"},
        "int8": {"mode": "int8"},
        "int8-io": {"mode": "int8", "inference_input_type": "int8", "inference_output_type": "int8"},
        "uint8-io": {"mode": "int8", "inference_input_type": "uint8", "inference_output_type": "uint8"},
    }
    found = {}
    for name, params in variants.items():
        artifact = compiled(**params)
        accuracy, outputs = evaluate(make, artifact, data)
        found[name] = {"artifact": artifact, "accuracy": accuracy, "outputs": outputs}
    return found


def test_float32_matches_keras(
    results: dict[str, Any], trained: Any, tf_session: dict[str, Any], keras_outputs: Any
) -> None:
    test = tf_session["digits"].split("test")
    reference = keras_outputs(trained, test.input)
    float32 = results["float32"]
    assert np.max(np.abs(float32["outputs"] - reference)) <= 1e-4
    assert float32["accuracy"] == pytest.approx(float(np.mean(reference.argmax(1) == test.targets)))
    meta = float32["artifact"].metadata
    assert (
        meta["verified"] is True and meta["verify_max_abs_diff"] <= 1e-4 and meta["verify_tolerance"] == 1e-4
    )
    assert meta["mode"] == "float32" and meta["source_format"] == "keras"
    assert meta["test_accuracy"] == trained.metadata["test_accuracy"]
    io = float32["artifact"].io
    assert [(t.name, t.shape, t.dtype, t.layout) for t in io.inputs] == [
        ("input", (None, 8, 8, 1), "float32", "NHWC")
    ]
    assert [(t.name, t.shape, t.dtype) for t in io.outputs] == [("logits", (None, 10), "float32")]


def test_full_int8_within_one_and_a_half_points_of_float(results: dict[str, Any]) -> None:
    reference = results["float32"]["accuracy"]
    assert reference >= 0.95
    for name in ("int8", "int8-io", "uint8-io"):
        assert reference - results[name]["accuracy"] <= 0.015, name
    for name in ("float16", "dynamic"):
        assert reference - results[name]["accuracy"] <= 0.005, name


def test_quantized_io_spec_mirrors_the_model(results: dict[str, Any]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    for name, dtype in (("int8-io", np.int8), ("uint8-io", np.uint8)):
        artifact = results[name]["artifact"]
        interpreter = Interpreter(model_path=str(artifact.path))
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        (spec_in,), (spec_out,) = artifact.io.inputs, artifact.io.outputs
        assert inp["dtype"] == dtype and spec_in.dtype == np.dtype(dtype).name
        assert (spec_in.scale, spec_in.zero_point) == (
            pytest.approx(inp["quantization"][0]),
            inp["quantization"][1],
        )
        assert (spec_out.scale, spec_out.zero_point) == (
            pytest.approx(out["quantization"][0]),
            out["quantization"][1],
        )
        # inputs in [0, 1] use the whole integer range
        assert spec_in.scale == pytest.approx(1 / 255, rel=1e-3)
        assert spec_in.zero_point == (-128 if dtype == np.int8 else 0)
        assert artifact.metadata["supported_ops"] == "TFLITE_BUILTINS_INT8"
    float_in = results["int8"]["artifact"].io.inputs[0]
    assert float_in.dtype == "float32" and float_in.scale is None


def test_sizes(results: dict[str, Any]) -> None:
    size = {name: r["artifact"].size_bytes for name, r in results.items()}
    assert size["float16"] < 0.6 * size["float32"]
    for name in ("dynamic", "int8", "int8-io", "uint8-io"):
        assert size[name] < 0.4 * size["float32"], name


def test_edgetpu_without_its_compiler(
    trained: Any, tf_session: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edgeai_tflite.compiler"):
        artifact = tf_session["make"](
            "compiler", "tflite", mode="int8", target="edgetpu", inference_input_type="uint8",
            inference_output_type="uint8", edgetpu_compiler="edgetpu_compiler_absent",
        ).compile(trained, tf_session["digits"])  # fmt: skip
    assert "Edge TPU compiler" in caplog.text and "edgetpu_compiler model-int8.tflite" in caplog.text
    assert artifact.metadata["edgetpu_compiled"] is False and artifact.path.name == "model-int8.tflite"
    assert artifact.metadata["verify_samples"] == 8 and artifact.metadata["verify_top1_agreement"] >= 0.875
    assert artifact.io.inputs[0].shape == (1, 8, 8, 1) and artifact.io.inputs[0].dtype == "uint8"
    # integer operators only: no float conversions at the boundaries with uint8 IO
    ops = artifact.metadata["ops"]
    assert "DEQUANTIZE" not in ops and {"CONV_2D", "FULLY_CONNECTED"} <= set(ops)


def test_edgetpu_runs_its_compiler_when_found(
    trained: Any, tf_session: dict[str, Any], fake_edgetpu_compiler: Path
) -> None:
    artifact = tf_session["make"](
        "compiler", "tflite", mode="int8", target="edgetpu", edgetpu_compiler=str(fake_edgetpu_compiler)
    ).compile(trained, tf_session["digits"])
    assert artifact.path.name == "model-int8_edgetpu.tflite" and artifact.path.is_file()
    assert artifact.metadata["edgetpu_compiled"] is True
    assert "Model compiled successfully" in artifact.metadata["edgetpu_compiler_output"]


def test_fixed_batch(compiled: Any, tf_session: dict[str, Any]) -> None:
    artifact = compiled(mode="float32", batch_size=4)
    assert artifact.io.inputs[0].shape == (4, 8, 8, 1)
    runtime = tf_session["make"]("runtime", "tflite")
    runtime.load(artifact)
    assert runtime.infer([tf_session["digits"].split("test").input[:4]])[0].shape == (4, 10)


def test_parameter_errors(make: Any, trained: Any, tf_session: dict[str, Any]) -> None:
    data = tf_session["digits"]
    with pytest.raises(ParameterError, match=r"^inference_input_type: int8 needs mode int8"):
        make("compiler", "tflite", inference_input_type="int8").compile(trained, data)
    with pytest.raises(ParameterError, match=r"^mode: target edgetpu runs integer-only models"):
        make("compiler", "tflite", target="edgetpu", mode="float16").compile(trained, data)
    with pytest.raises(ParameterError, match=r"^batch_size: target edgetpu needs a static batch of 1"):
        make("compiler", "tflite", target="edgetpu", mode="int8", batch_size=2).compile(trained, data)


def test_int8_needs_a_dataset_in_the_models_layout(make: Any, trained: Any) -> None:
    with pytest.raises(DatasetError, match="mode int8 calibrates activation ranges on a dataset"):
        make("compiler", "tflite", mode="int8").compile(trained, None)
    nchw = make("dataset", "digits")
    nchw.prepare()
    with pytest.raises(
        DatasetError, match=r"shape \(1, 8, 8\).*expects \(8, 8, 1\).*set dataset.layout = \"NHWC\""
    ):
        make("compiler", "tflite", mode="int8").compile(trained, nchw)


def test_onnx_source_without_onnx2tf_says_how_to_install_it(
    make: Any, trained: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import dataclasses

    import edgeai_tflite.compiler as compiler

    real = compiler.importlib.util.find_spec
    monkeypatch.setattr(
        compiler.importlib.util, "find_spec", lambda name: None if name == "onnx2tf" else real(name)
    )
    onnx = dataclasses.replace(trained, path=tmp_path / "model.onnx", format="onnx")
    with pytest.raises(
        MissingDependencyError, match=r"needs 'onnx2tf'.*pip install --no-deps onnx2tf 'tf-keras==2.21.0'"
    ):
        make("converter", "onnx-to-tflite").convert(onnx)


def test_keras_to_tflite_converter(make: Any, trained: Any, results: dict[str, Any]) -> None:
    artifact = make("converter", "keras-to-tflite").convert(trained)
    assert artifact.format == "tflite" and artifact.metadata["mode"] == "float32"
    assert artifact.metadata["verified"] is True
    assert artifact.producer == "converter:keras-to-tflite"
    assert artifact.io == results["float32"]["artifact"].io
