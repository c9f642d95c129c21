"""edgeai-tflite's components pass the plugin-author conformance kit (edgeai_core.testing).

Everything here needs TensorFlow (the compile side): models are trained for one epoch on 200 NHWC digits, the
user-file models load a tiny Keras model (Flatten + Dense) saved by the test as .keras, SavedModel and .tflite.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact
from edgeai_core.plugins import PluginHost
from edgeai_core.testing import (
    CompilerConformance,
    ConverterConformance,
    ModelConformance,
    RuntimeConformance,
)

pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")
pytest.importorskip("edgeai_datasets", reason="edgeai-datasets provides the digits dataset")

PLUGIN = "edgeai_tflite.plugin"
ALSO = ("edgeai_datasets.plugin",)
DIGITS = {"limit": 200, "layout": "NHWC"}
CNN = {"epochs": 1}


def needs(*modules: str, why: str) -> pytest.MarkDecorator:
    """Skip unless every one of ``modules`` is installed."""
    return pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in modules), reason=why)


def tiny_keras(folder: Path) -> Any:
    """A seeded Flatten + Dense(10) model on (8, 8, 1) inputs."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="input")
    outputs = keras.layers.Dense(10, name="logits")(keras.layers.Flatten()(inputs))
    folder.mkdir(parents=True, exist_ok=True)
    return keras.Model(inputs, outputs, name="tiny")


def keras_file(folder: Path) -> Path:
    path = folder / "tiny.keras"
    tiny_keras(folder).save(path)
    return path


def savedmodel_dir(folder: Path) -> Path:
    path = folder / "tiny-savedmodel"
    tiny_keras(folder).export(str(path), verbose=False)
    return path


def tflite_file(folder: Path) -> Path:
    import tensorflow as tf

    path = folder / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(tiny_keras(folder)).convert())
    return path


class _Digits:
    """This plugin (with the datasets), on 200 NHWC digits."""

    plugin, also = PLUGIN, ALSO
    dataset, dataset_params = "digits", DIGITS


class _Trained(_Digits):
    """The artifact: ``digits-cnn-keras`` trained for one epoch on NHWC digits."""

    model, model_params = "digits-cnn-keras", CNN


class TestDigitsCnnKeras(_Digits, ModelConformance):
    component = "digits-cnn-keras"
    params = CNN


class TestMobileNetV2Keras(TestDigitsCnnKeras):
    component = "mobilenetv2-keras"
    params = {"epochs": 1, "width": 0.35, "channels": 1, "image_size": 8}  # noqa: RUF012


class _UserFile(_Digits, ModelConformance):
    """A model loading the tiny Keras model that ``write(workdir)`` saves."""

    write: ClassVar[Callable[[Path], Path]]

    def component_params(self, workdir: Path) -> dict[str, Any]:
        return {"path": str(type(self).write(workdir))}


class TestKerasFile(_UserFile):
    component, write = "keras-file", keras_file


class TestSavedModelDir(_UserFile):
    component, write = "savedmodel-dir", savedmodel_dir


class TestTfliteFile(_UserFile):
    component, write = "tflite-file", tflite_file


class TestTfliteCompilerFloat(_Trained, CompilerConformance):
    component = "tflite"
    runtime = "tflite"


class TestTfliteCompilerInt8(TestTfliteCompilerFloat):
    params = {"mode": "int8", "calibration_samples": 16}  # noqa: RUF012


class TestKerasToTflite(_Trained, ConverterConformance):
    component = "keras-to-tflite"
    runtime = "tflite"


@needs(
    "tf2onnx", "edgeai_onnx", why="keras-to-onnx needs tf2onnx; its output runs on edgeai-onnx's onnxruntime"
)
class TestKerasToOnnx(_Trained, ConverterConformance):
    also = (*ALSO, "edgeai_onnx.plugin")
    component = "keras-to-onnx"
    runtime = "onnxruntime"


@needs(
    "onnx2tf",
    "tf2onnx",
    why="onnx-to-tflite needs onnx2tf (nox -s tflite_onnx2tf installs it); the ONNX input comes from tf2onnx",
)
class TestOnnxToTflite(_Trained, ConverterConformance):
    component = "onnx-to-tflite"
    steps = (("keras-to-onnx", {}),)
    runtime = "tflite"


class TestTfliteRuntime(_Trained, RuntimeConformance):
    component = "tflite"
    steps = (("tflite", {}),)
    atol = 1e-4

    def reference_outputs(
        self, host: PluginHost, artifact: Artifact, inputs: list[np.ndarray], dataset: Any, workdir: Path
    ) -> list[np.ndarray]:
        """The Keras model the .tflite was converted from."""
        import keras

        model = keras.models.load_model(self.chain[0].path, compile=False)  # the model's own artifact
        return [np.asarray(model(inputs[0], training=False))]


class TestTfliteRuntimeInt8(_Trained, RuntimeConformance):
    component = "tflite"
    steps = (("tflite", {"mode": "int8", "calibration_samples": 16}),)
