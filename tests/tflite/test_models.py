"""The Keras models: the trained digits CNN, seeded training, checkpoints, MobileNetV2 and a user's own files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.errors import ArtifactError, UsageError

pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")

#: edgeai-torch's mobilenetv2 (width 0.5, 32x32x3, 10 classes): ``sum(p.numel() for p in module.parameters())``
TORCH_MOBILENETV2_PARAMETERS = 590_410


def test_trained_cnn(trained: Any) -> None:
    meta = trained.metadata
    assert trained.format == "keras" and trained.path.name == "model.keras" and trained.sidecar.is_file()
    assert meta["test_accuracy"] >= 0.95
    assert meta["parameter_count"] == 23_946  # the same as edgeai-torch's digits-cnn
    assert meta["params"] == {"channels": 1, "image_size": 8, "classes": 10}
    assert meta["architecture"] == "digits-cnn" and meta["epochs"] == 15 and 1 <= meta["best_epoch"] <= 15
    io = trained.io
    assert [(t.name, t.shape, t.dtype, t.layout) for t in io.inputs] == [
        ("input", (None, 8, 8, 1), "float32", "NHWC")
    ]
    assert [(t.name, t.shape) for t in io.outputs] == [("logits", (None, 10))]


def test_checkpoint_loads_the_same_model(
    trained: Any, make: Any, tf_session: dict[str, Any], keras_outputs: Any
) -> None:
    loaded = make("model", "digits-cnn-keras", checkpoint=str(trained.path)).prepare(None)
    assert loaded.path != trained.path and loaded.path.read_bytes() == trained.path.read_bytes()
    assert loaded.metadata["test_accuracy"] == trained.metadata["test_accuracy"]
    assert loaded.metadata["loaded_from"] == str(trained.path)
    x = tf_session["digits"].split("test").input[:16]
    np.testing.assert_array_equal(keras_outputs(loaded, x), keras_outputs(trained, x))


def test_seeded_training_is_reproducible(make: Any) -> None:
    import keras

    from edgeai_tflite.nets import build

    data = make("dataset", "digits", layout="NHWC", limit=400)
    data.prepare()
    weights = []
    for _ in range(2):
        artifact = make("model", "digits-cnn-keras", seed=3, epochs=2).prepare(data)
        weights.append(keras.models.load_model(artifact.path, compile=False).get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1], strict=True))
    initial = []
    for seed in (3, 4):  # the seed sets the initial weights (and the data order)
        keras.utils.set_random_seed(seed)
        initial.append(build("digits-cnn", {"channels": 1, "image_size": 8, "classes": 10}).get_weights()[0])
    assert not np.array_equal(initial[0], initial[1])


def test_nchw_dataset_is_refused_with_the_fix(make: Any) -> None:
    data = make("dataset", "digits")
    data.prepare()
    with pytest.raises(UsageError, match=r"shape \(1, 8, 8\).*NHWC.*--dataset-layout NHWC"):
        make("model", "digits-cnn-keras", epochs=1).prepare(data)


def test_checkpoint_errors(make: Any, tmp_path: Path) -> None:
    import keras

    other = tmp_path / "other.keras"
    inputs = keras.Input((8, 8, 1))
    keras.Model(inputs, keras.layers.Flatten()(inputs), name="someone_elses").save(other)
    with pytest.raises(
        ArtifactError,
        match=r"model.checkpoint: .*holds Keras model 'someone_elses', not 'edgeai_digits_cnn'; .*keras-file",
    ):
        make("model", "digits-cnn-keras", checkpoint=str(other)).prepare(None)
    with pytest.raises(ArtifactError, match=r"model.checkpoint: .*missing.keras does not exist"):
        make("model", "digits-cnn-keras", checkpoint=str(tmp_path / "missing.keras")).prepare(None)
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(
        ArtifactError, match=r"model.checkpoint: .*junk.keras cannot be loaded as a Keras model"
    ):
        make("model", "digits-cnn-keras", checkpoint=str(junk)).prepare(None)
    torch_file = tmp_path / "model.pt"
    torch_file.write_bytes(b"x")
    with pytest.raises(ArtifactError, match=r"is not a Keras model file \(.keras or legacy .h5\)"):
        make("model", "digits-cnn-keras", checkpoint=str(torch_file)).prepare(None)


def test_mobilenetv2_architectures() -> None:
    from edgeai_core.api import mobilenetv2_strides
    from edgeai_tflite.nets import build

    assert mobilenetv2_strides(32) == (2, [1, 2, 2, 2, 1, 1, 1])  # the same cut as edgeai-torch
    edgeai = build("mobilenetv2", {"channels": 3, "image_size": 32, "classes": 10, "width": 0.5,
                                   "dropout": 0.2, "implementation": "edgeai"})  # fmt: skip
    assert edgeai.name == "edgeai_mobilenetv2" and edgeai.output_shape == (None, 10)
    trainable = sum(int(np.prod(w.shape)) for w in edgeai.trainable_weights)
    assert trainable == TORCH_MOBILENETV2_PARAMETERS
    applications = build("mobilenetv2", {"channels": 3, "image_size": 48, "classes": 5, "width": 0.35,
                                         "dropout": 0.2, "implementation": "keras-applications"})  # fmt: skip
    assert applications.input_shape == (None, 48, 48, 3) and applications.output_shape == (None, 5)
    assert applications.output_names == ["logits"]
    with pytest.raises(UsageError, match="needs inputs of at least 32x32"):
        build("mobilenetv2", {"channels": 3, "image_size": 16, "classes": 5, "width": 0.35,
                              "dropout": 0.2, "implementation": "keras-applications"})  # fmt: skip


def test_mobilenetv2_compiles_for_the_edgetpu(make: Any, fake_edgetpu_compiler: Path, tmp_path: Path) -> None:
    """The reference's flagship path, small: MobileNetV2 (seeded weights; its training is the digits CNN's code) on
    32x32 RGB digits, full int8 with uint8 inputs and outputs, for the Edge TPU."""
    import keras

    from edgeai_tflite.models import save_keras
    from edgeai_tflite.nets import build

    data = make("dataset", "digits", layout="NHWC", image_size=32, channels=3, limit=300)
    data.prepare()
    keras.utils.set_random_seed(0)
    params = dict(channels=3, image_size=32, classes=10, width=0.35, dropout=0.2, implementation="edgeai")
    save_keras(build("mobilenetv2", params), tmp_path / "mbv2.keras")
    model = make("model", "mobilenetv2-keras", checkpoint=str(tmp_path / "mbv2.keras")).prepare(None)
    assert model.io.inputs[0].shape == (None, 32, 32, 3) and model.metadata["parameter_count"] > 300_000
    artifact = make(
        "compiler", "tflite", mode="int8", target="edgetpu", inference_input_type="uint8",
        inference_output_type="uint8", calibration_samples=32, edgetpu_compiler=str(fake_edgetpu_compiler),
    ).compile(model, data)  # fmt: skip
    assert artifact.metadata["edgetpu_compiled"] is True
    assert artifact.io.inputs[0].shape == (1, 32, 32, 3) and artifact.io.inputs[0].dtype == "uint8"
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN"} <= set(artifact.metadata["ops"])
    assert "DEQUANTIZE" not in artifact.metadata["ops"]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras' export
def test_keras_file_and_savedmodel_dir(
    trained: Any, make: Any, tmp_path: Path, tf_session: dict[str, Any], keras_outputs: Any
) -> None:
    import keras

    model = keras.models.load_model(trained.path, compile=False)
    own = tmp_path / "own.keras"
    model.save(own)
    artifact = make("model", "keras-file", path=str(own), mean=[0.5], std=[0.25]).prepare(None)
    assert artifact.format == "keras" and artifact.io.inputs[0].layout == "NHWC"
    assert artifact.metadata["input_normalization"] == {"mean": [0.5], "std": [0.25], "axis": -1}

    exported = tmp_path / "exported"
    model.export(str(exported), verbose=False)
    saved = make("model", "savedmodel-dir", path=str(exported), signature="serve").prepare(None)
    assert saved.format == "savedmodel" and saved.path.is_dir() and saved.metadata["signature"] == "serve"
    assert [(t.shape, t.layout) for t in saved.io.inputs] == [((None, 8, 8, 1), "NHWC")]
    tflite = make("compiler", "tflite", signature="serve").compile(saved, None)
    runtime = make("runtime", "tflite")
    runtime.load(tflite)
    x = tf_session["digits"].split("test").input
    assert np.max(np.abs(runtime.infer([x])[0] - keras_outputs(trained, x))) <= 1e-4
    fixed = make("compiler", "tflite", signature="serve", batch_size=1).compile(saved, None)
    assert fixed.io.inputs[0].shape == (1, 8, 8, 1)
    with pytest.raises(ArtifactError, match=r"has no signature 'nope' \(it has: serve, serving_default\)"):
        make("model", "savedmodel-dir", path=str(exported), signature="nope").prepare(None)


def test_keras_file_refuses_code_in_safe_mode(make: Any, tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((4,), name="x")
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(
        ArtifactError, match=r"model.path: .*lambda.keras cannot be loaded.*safe_mode = false"
    ):
        make("model", "keras-file", path=str(path)).prepare(None)
    artifact = make("model", "keras-file", path=str(path), safe_mode=False).prepare(None)
    assert artifact.metadata["safe_mode"] is False and artifact.io.inputs[0].shape == (None, 4)
