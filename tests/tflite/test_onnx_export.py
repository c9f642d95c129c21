"""``keras-to-onnx`` (tf2onnx through a SavedModel) and, where onnx2tf is installed, ONNX -> TFLite."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")
pytest.importorskip("tf2onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exports(tf_session: dict[str, Any], trained: Any) -> dict[str, Any]:
    make = tf_session["make"]
    return {
        layout: make("converter", "keras-to-onnx", layout=layout).convert(trained)
        for layout in ("NHWC", "NCHW")
    }


def test_onnx_matches_keras(
    exports: dict[str, Any], trained: Any, tf_session: dict[str, Any], keras_outputs: Any
) -> None:
    x = tf_session["digits"].split("test").input
    reference = keras_outputs(trained, x)
    for layout, artifact in exports.items():
        session = ort.InferenceSession(str(artifact.path), providers=["CPUExecutionProvider"])
        feed = x if layout == "NHWC" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        (out,) = session.run(None, {session.get_inputs()[0].name: feed})
        assert np.max(np.abs(out - reference)) <= 1e-4, layout
        meta = artifact.metadata
        assert meta["verified"] is True and meta["verify_max_abs_diff"] <= 1e-4 and meta["opset"] == 17
        assert meta["test_accuracy"] == trained.metadata["test_accuracy"]
    nhwc, nchw = exports["NHWC"].io, exports["NCHW"].io
    assert [(t.name, t.shape, t.layout) for t in nhwc.inputs] == [("input", (None, 8, 8, 1), "NHWC")]
    assert [(t.name, t.shape, t.layout) for t in nchw.inputs] == [("input", (None, 1, 8, 8), "NCHW")]
    assert [(t.name, t.shape) for t in nchw.outputs] == [("logits", (None, 10))]


@pytest.mark.slow
def test_onnx_to_tflite_through_onnx2tf(
    exports: dict[str, Any], trained: Any, tf_session: dict[str, Any], keras_outputs: Any
) -> None:
    """Only where onnx2tf is installed the documented way (`nox -s tflite_onnx2tf`)."""
    pytest.importorskip("onnx2tf")
    make, data = tf_session["make"], tf_session["digits"]
    x = data.split("test").input
    reference = keras_outputs(trained, x)
    artifact = make("converter", "onnx-to-tflite").convert(exports["NCHW"])
    assert artifact.io.inputs[0].shape == (None, 8, 8, 1) and artifact.io.inputs[0].layout == "NHWC"
    assert [(t.name, t.shape) for t in artifact.io.outputs] == [("logits", (None, 10))]
    runtime = make("runtime", "tflite")
    runtime.load(artifact)
    assert np.max(np.abs(runtime.infer([x])[0] - reference)) <= 1e-4
    quantized = make("compiler", "tflite", mode="int8", inference_input_type="int8").compile(
        exports["NCHW"], data
    )
    runtime.load(quantized)
    accuracy = float(np.mean(runtime.infer([x])[0].argmax(1) == data.split("test").targets))
    assert float(np.mean(reference.argmax(1) == data.split("test").targets)) - accuracy <= 0.015
