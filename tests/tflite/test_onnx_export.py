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


def test_captured_normalization_constants_are_folded(tf_session: dict[str, Any], tmp_path: Any) -> None:
    """The EfficientNetB0 case: tf2onnx leaves an adapted Normalization layer's mean and variance as extra graph
    inputs (the run failed with a raw ``zip() argument 2 is longer than argument 1``); they become initializers."""
    keras = pytest.importorskip("keras")
    onnx = pytest.importorskip("onnx")
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(64, 12)) * 3 + 5).astype(np.float32)
    norm = keras.layers.Normalization()
    norm.adapt(data)
    inputs = keras.Input((12,), name="x")
    hidden = keras.layers.Dense(16, activation="relu")(norm(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(hidden))
    path = tmp_path / "normalized.keras"
    model.save(path)
    make = tf_session["make"]
    source = make("model", "keras-file", path=str(path)).prepare(None)
    artifact = make("converter", "keras-to-onnx").convert(source)
    graph = onnx.load(str(artifact.path)).graph
    assert [i.name for i in graph.input] == [t.name for t in artifact.io.inputs] == ["x"]
    folded = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    assert any(np.allclose(v.ravel(), norm.mean.numpy().ravel()) for v in folded.values() if v.size == 12)
    session = ort.InferenceSession(str(artifact.path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": data})
    assert np.max(np.abs(got - model.predict(data, verbose=0))) <= 1e-5
    assert artifact.metadata["verified"] is True and artifact.metadata["verify_max_abs_diff"] <= 1e-5


def test_inputs_left_unfolded_are_named_with_the_reason() -> None:
    onnx = pytest.importorskip("onnx")
    from edgeai_core.api import EdgeaiError
    from edgeai_tflite.onnx_export import fold_captured_inputs

    def tensor(name: str) -> Any:
        return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, 3])

    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Add", ["x", "632:0"], ["y"])],
        "g",
        [tensor("x"), tensor("632:0")],
        [tensor("y")],
    )

    class Symbolic:  # a captured tensor whose value is not known when tracing
        dtype = "float32"

        def numpy(self) -> Any:
            raise TypeError("symbolic")

    class Placeholder:
        def __init__(self, name: str) -> None:
            self.name = name

    class Concrete:
        def __init__(self) -> None:
            self.graph = type("G", (), {"inputs": [Placeholder("x:0"), Placeholder("632:0")]})
            self.captured_inputs = [Symbolic()]
            self.variables: list[Any] = []

    class Function:
        def get_concrete_function(self) -> Any:
            return Concrete()

    with pytest.raises(EdgeaiError) as caught:
        fold_captured_inputs(onnx.helper.make_model(graph), Function(), 1, "net.keras")
    assert str(caught.value) == (
        "the ONNX export of net.keras has 1 graph input(s) beyond the model's 1 (632:0): tensors the Keras model "
        "captures that are not constants tf2onnx or edgeai can fold; export the model with those values frozen"
    )
