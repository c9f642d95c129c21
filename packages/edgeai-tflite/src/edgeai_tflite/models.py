"""The Keras model components: ``digits-cnn-keras`` and ``mobilenetv2-keras`` (trainable), ``keras-file`` and
``savedmodel-dir`` (a user's own files).

The trainable models write one ``model.keras`` (Keras 3's zip of config and weights; format ``keras``) plus its
sidecar. Loading always uses ``keras.models.load_model(..., safe_mode=True, compile=False)``: no code stored in a
file runs, and a checkpoint of another architecture is an error naming both.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import (
    IGNORE_INDEX,
    Artifact,
    ArtifactError,
    Dataset,
    EdgeaiError,
    EpochBook,
    IOSpec,
    Model,
    TensorSpec,
    TrainableClassifier,
    TrainSettings,
    declared_task,
)
from edgeai_tflite import KERAS, SAVEDMODEL
from edgeai_tflite._tf import keras, quiet, require_tensorflow_backend, tf, versions
from edgeai_tflite._util import condense, default_layout, input_normalization, with_layout
from edgeai_tflite.nets import ARCHITECTURE_PARAMS, INPUT_NAME, OUTPUT_NAME, build, model_name
from edgeai_tflite.training import accuracy, pixel_accuracy, run_epochs, set_threads

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "model.keras"
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
#: how the runner decodes shapes-segmenter-keras' output into label maps (edgeai_core.tasks)
SEGMENTER_POSTPROCESS = {"kind": "segmentation", "output": 0, "layout": "NHWC"}


# -- reading Keras models and SavedModels ------------------------------------------------------------


def load_keras(path: Path, *, field: str = "", safe_mode: bool = True) -> keras.Model:
    """Load a ``.keras``/``.h5`` file without compiling it; every failure is one ArtifactError line."""
    where = f"{field}: " if field else ""
    if not path.is_file():
        raise ArtifactError(
            f"{where}{path} does not exist" if not path.exists() else f"{where}{path} is not a file"
        )
    if path.suffix.lower() not in KERAS_SUFFIXES:
        raise ArtifactError(f"{where}{path} is not a Keras model file (.keras or legacy .h5)")
    require_tensorflow_backend()
    try:
        with quiet():
            return keras.models.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:
        message = condense(exc)
        hint = ""
        if safe_mode and ("safe_mode" in message or "Lambda" in message):
            hint = "; it runs code stored in the file: load it with safe_mode = false only if you trust it"
        raise ArtifactError(f"{where}{path} cannot be loaded as a Keras model: {message}{hint}") from None


def _dtype(value: Any) -> str:
    name = getattr(value, "name", None) if not isinstance(value, str) else value
    try:
        return np.dtype(str(name)).name
    except TypeError:
        return "float32"


def keras_io_spec(model: keras.Model, layout: str | None = "NHWC") -> IOSpec:
    """Inputs and outputs of a Keras model, named after its input layers and output layers."""
    output_names = list(getattr(model, "output_names", None) or [])
    inputs = []
    for i, tensor in enumerate(model.inputs):
        name = str(getattr(tensor, "name", "") or f"input_{i}").split(":")[0]
        shape = tuple(None if d is None else int(d) for d in tensor.shape)
        inputs.append(
            TensorSpec(name, shape, _dtype(tensor.dtype), layout=layout if len(shape) == 4 else None)
        )
    outputs = []
    for i, tensor in enumerate(model.outputs):
        name = output_names[i] if i < len(output_names) else f"output_{i}"
        shape = tuple(None if d is None else int(d) for d in tensor.shape)
        outputs.append(TensorSpec(str(name), shape, _dtype(tensor.dtype)))
    return IOSpec(inputs=tuple(inputs), outputs=tuple(outputs))


def classifier_io_spec(params: dict[str, Any]) -> IOSpec:
    """NHWC float32 images in, one logit per class out; the batch dimension is dynamic."""
    size, channels = int(params["image_size"]), int(params["channels"])
    return IOSpec(
        inputs=(TensorSpec(INPUT_NAME, (None, size, size, channels), "float32", layout="NHWC"),),
        outputs=(TensorSpec(OUTPUT_NAME, (None, int(params["classes"])), "float32"),),
    )


def load_signature(path: Path, key: str, *, field: str = "") -> Any:
    """The concrete function of signature ``key`` of a SavedModel directory (ArtifactError otherwise)."""
    where = f"{field}: " if field else ""
    if not (path / "saved_model.pb").is_file():
        raise ArtifactError(f"{where}{path} is not a SavedModel directory (it has no saved_model.pb)")
    try:
        with quiet():
            loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ArtifactError(f"{where}{path} cannot be loaded as a SavedModel: {condense(exc)}") from None
    signatures = dict(loaded.signatures)
    if key not in signatures:
        raise ArtifactError(
            f"{where}{path} has no signature '{key}' (it has: {', '.join(signatures) or 'none'}); "
            "set the signature parameter"
        )
    return loaded, signatures[key]


def signature_io_spec(function: Any, layout: str | None = "NHWC") -> IOSpec:
    """Inputs and outputs of a SavedModel signature, sorted by name as TensorFlow orders them."""

    def spec(name: str, tensor: Any) -> TensorSpec:
        shape = tuple(None if d is None else int(d) for d in tensor.shape.as_list())
        return TensorSpec(name, shape, tensor.dtype.name, layout=layout if len(shape) == 4 else None)

    _args, kwargs = function.structured_input_signature
    outputs = function.structured_outputs
    if not isinstance(outputs, dict):
        outputs = {f"output_{i}": t for i, t in enumerate(tf.nest.flatten(outputs))}
    return IOSpec(
        inputs=tuple(spec(n, kwargs[n]) for n in sorted(kwargs)),
        outputs=tuple(spec(n, outputs[n]) for n in sorted(outputs)),
    )


def save_keras(model: keras.Model, path: Path) -> None:
    """Write ``model`` to ``path`` atomically (Keras insists on the .keras suffix, so the temporary has it too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    with quiet():
        model.save(tmp)
    tmp.replace(path)


# -- the trainable classifiers ---------------------------------------------------------------------


class KerasClassifier(TrainableClassifier):
    """Base of the Keras image classifiers: NHWC float32 in, logits out."""

    architecture_params = ARCHITECTURE_PARAMS
    artifact_format = KERAS
    checkpoint_name = CHECKPOINT_NAME

    def versions(self) -> dict[str, str]:
        return versions()

    def train(self, dataset: Dataset) -> Artifact:
        require_tensorflow_backend()
        return super().train(dataset)

    def build_network(self, params: dict[str, Any]) -> keras.Model:
        set_threads(self.params["threads"])
        keras.utils.set_random_seed(self.context.seed)
        return build(self.architecture, params)

    def parameter_count(self, network: keras.Model) -> int:
        return int(network.count_params())

    def fit(
        self, network: keras.Model, arrays: dict[str, Any], settings: TrainSettings, book: EpochBook
    ) -> None:
        run_epochs(network, arrays, settings, book)

    def restore_weights(self, network: keras.Model, weights: list[np.ndarray]) -> None:
        network.set_weights(weights)

    def accuracy(self, network: keras.Model, inputs: np.ndarray, targets: np.ndarray) -> float | None:
        return accuracy(network, inputs, targets)

    def save_network(self, network: keras.Model, params: dict[str, Any], path: Path) -> None:
        save_keras(network, path)

    def io_spec(self, params: dict[str, Any]) -> IOSpec:
        return classifier_io_spec(params)

    def load_checkpoint(self, path: Path) -> Artifact:
        model = load_keras(path, field="model.checkpoint")
        expected = model_name(self.architecture)
        if model.name != expected:
            raise ArtifactError(
                f"model.checkpoint: {path} holds Keras model '{model.name}', not '{expected}'; use the model "
                f"that wrote it, or keras-file for your own Keras models"
            )
        return self.checkpoint_artifact(path, keras_io_spec(model), int(model.count_params()))


class DigitsCnnKeras(KerasClassifier):
    """The Keras twin of digits-cnn (see :func:`edgeai_tflite.nets.digits_cnn`)."""

    architecture = "digits-cnn"


class MobileNetV2Keras(KerasClassifier):
    """Keras MobileNetV2 (see :func:`edgeai_tflite.nets.mobilenetv2`)."""

    architecture = "mobilenetv2"


class ShapesSegmenterKeras(KerasClassifier):
    """A tiny Keras U-Net for ``shapes-segmentation`` (see :func:`edgeai_tflite.nets.shapes_segmenter`).

    Trained like the classifiers (Adam, cross-entropy per pixel, cosine decay, best-validation epoch), with
    pixel accuracy standing in for top-1 accuracy; the test split's mIoU is recorded as ``test_miou``. The
    artifact declares how its output reads (``metadata["postprocess"]``, carried through the TFLite
    compiler): per-pixel logits, channels last.
    """

    architecture = "shapes-segmenter"

    def io_spec(self, params: dict[str, Any]) -> IOSpec:
        size, channels, classes = int(params["image_size"]), int(params["channels"]), int(params["classes"])
        return IOSpec(
            inputs=(TensorSpec(INPUT_NAME, (None, size, size, channels), "float32", layout="NHWC"),),
            outputs=(TensorSpec(OUTPUT_NAME, (None, size, size, classes), "float32"),),
        )

    def fit(
        self, network: keras.Model, arrays: dict[str, Any], settings: TrainSettings, book: EpochBook
    ) -> None:
        run_epochs(network, arrays, settings, book, score=pixel_accuracy, ignore_class=IGNORE_INDEX)

    def accuracy(self, network: keras.Model, inputs: np.ndarray, targets: np.ndarray) -> float | None:
        if len(inputs):  # the test split: its mIoU goes into the metadata as well
            classes = int(network.output_shape[-1])
            self._test_miou: float | None = mean_iou(network, inputs, targets, classes)
        return pixel_accuracy(network, inputs, targets)

    def training_metadata(
        self, params: dict[str, Any], result: Any, parameter_count: int, dataset: Dataset
    ) -> dict[str, Any]:
        metadata = super().training_metadata(params, result, parameter_count, dataset)
        metadata["accuracy_kind"] = "pixel accuracy"
        metadata["test_miou"] = getattr(self, "_test_miou", None)
        metadata.update(task="segmentation", postprocess=dict(SEGMENTER_POSTPROCESS))
        return metadata

    def load_checkpoint(self, path: Path) -> Artifact:
        artifact = super().load_checkpoint(path)
        metadata = {**artifact.metadata, "task": "segmentation", "postprocess": dict(SEGMENTER_POSTPROCESS)}
        return self.save_artifact(artifact.path, artifact.format, artifact.io, metadata)


def mean_iou(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, classes: int, batch: int = 64
) -> float:
    """Mean over classes present in the targets or predictions of intersection / union, pixels pooled."""
    confusion = np.zeros((classes, classes), dtype=np.int64)
    for start in range(0, len(inputs), batch):
        predicted = np.argmax(np.asarray(model(inputs[start : start + batch], training=False)), axis=-1)
        truth = np.asarray(targets[start : start + batch]).astype(np.int64)
        valid = (truth >= 0) & (truth < classes)
        confusion += np.bincount(
            truth[valid] * classes + predicted[valid], minlength=classes * classes
        ).reshape(classes, classes)
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    return float(np.mean(intersection[present] / union[present])) if present.any() else 0.0


# -- a user's own files ------------------------------------------------------------------------------


class _UserModel(Model):
    """Shared by ``keras-file`` and ``savedmodel-dir``: loaded, never trained."""

    def versions(self) -> dict[str, str]:
        return versions()

    def train(self, dataset: Dataset) -> Artifact:
        raise EdgeaiError(
            f"model {self.name} loads a trained model and cannot be trained; use `edgeai run` with model.path set"
        )

    def _io(self, io: IOSpec) -> IOSpec:
        return with_layout(io, default_layout(io, self.params["layout"]))

    def _metadata(self, io: IOSpec, source: Path) -> dict[str, Any]:
        p = self.params
        metadata: dict[str, Any] = {"source": str(source)}
        if io.inputs:
            layout = default_layout(io, p["layout"])
            normalization = input_normalization(io.inputs[0], layout, p["mean"], p["std"])
            if normalization is not None:
                metadata["input_normalization"] = normalization
        return metadata


class KerasFile(_UserModel):
    """A ``.keras`` (or ``.h5``) file, copied into the work directory."""

    def prepare(self, dataset: Dataset | None) -> Artifact:
        p = self.params
        source = Path(p["path"]).expanduser()
        model = load_keras(source, field="model.path", safe_mode=p["safe_mode"])
        io = self._io(keras_io_spec(model, layout=None))
        dataset_task = dataset.task if dataset is not None else None
        declared = declared_task(p["task"], p["postprocess"], dataset_task, io, str(source))
        target = self.context.workdir / source.name
        if source.resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        metadata = self._metadata(io, source)
        metadata.update(keras_model=model.name, parameter_count=int(model.count_params()))
        if not p["safe_mode"]:
            metadata["safe_mode"] = False  # the compiler must load it the same way
        metadata.update(declared)
        return self.save_artifact(target, KERAS, io, metadata)


class SavedModelDir(_UserModel):
    """A SavedModel directory, copied into the work directory; one signature describes it."""

    def prepare(self, dataset: Dataset | None) -> Artifact:
        p = self.params
        source = Path(p["path"]).expanduser()
        if not source.is_dir():
            raise ArtifactError(
                f"model.path: {source} {'is not a directory' if source.exists() else 'does not exist'}; "
                "give the SavedModel directory (the one holding saved_model.pb)"
            )
        _loaded, function = load_signature(source, p["signature"], field="model.path")
        io = self._io(signature_io_spec(function, layout=None))
        if not io.inputs:
            raise ArtifactError(f"model.path: signature '{p['signature']}' of {source} takes no inputs")
        target = self.context.workdir / "saved_model"
        if source.resolve() != target.resolve():
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target)
        metadata = self._metadata(io, source)
        metadata["signature"] = p["signature"]
        return self.save_artifact(target, SAVEDMODEL, io, metadata)
