"""The model components: ``digits-cnn`` and ``mobilenetv2`` (classifiers), ``shapes-detector`` and
``shapes-segmenter`` (detection and segmentation); each trains on a dataset or loads a checkpoint.

Both write the same artifact (format ``torch``, see :mod:`edgeai_torch.checkpoint`) and differ only in their
architecture parameters, so one base class does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from edgeai_core.api import (
    Artifact,
    Dataset,
    DatasetError,
    EpochBook,
    IOSpec,
    TrainableClassifier,
    TrainResult,
    TrainSettings,
    check_postprocess,
)
from edgeai_torch import FORMAT
from edgeai_torch.checkpoint import io_spec, load_checkpoint, save_checkpoint
from edgeai_torch.nets import ARCHITECTURE_PARAMS, build, parameter_count
from edgeai_torch.training import TensorBoardScalars, accuracy, run_epochs, tensorboard_scalars, torch_threads

log = logging.getLogger(__name__)

#: how the detector's outputs (heatmap, size, offset) become boxes: outside the graph, by the core's decoder
DETECTOR_POSTPROCESS = MappingProxyType(
    {"kind": "centernet", "heatmap": 0, "size": 1, "offset": 2, "stride": 4}
)
#: the segmenter's logits: argmax over the class axis (the core's default, declared anyway)
SEGMENTER_POSTPROCESS = MappingProxyType({"kind": "segmentation", "output": 0})

CHECKPOINT_NAME = "model.pt"


class TorchClassifier(TrainableClassifier):
    """Base of the image classifiers: NCHW float32 in, logits out."""

    architecture_params = ARCHITECTURE_PARAMS
    artifact_format = FORMAT
    checkpoint_name = CHECKPOINT_NAME

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}

    def build_network(self, params: dict[str, Any]) -> nn.Module:
        torch.manual_seed(self.context.seed)
        with torch_threads(self.params["threads"]):
            return build(self.architecture, params)

    def parameter_count(self, network: nn.Module) -> int:
        return parameter_count(network)

    def fit(
        self, network: nn.Module, arrays: dict[str, Any], settings: TrainSettings, book: EpochBook
    ) -> None:
        run_epochs(network, arrays, settings, book)

    def restore_weights(self, network: nn.Module, weights: dict[str, torch.Tensor]) -> None:
        network.load_state_dict(weights)
        network.eval()

    def accuracy(self, network: nn.Module, inputs: np.ndarray, targets: np.ndarray) -> float | None:
        with torch_threads(self.params["threads"]):
            return accuracy(network, inputs, targets)

    def metrics_sink(self, logdir: Path | None) -> TensorBoardScalars | None:
        return tensorboard_scalars(logdir)

    def save_network(self, network: nn.Module, params: dict[str, Any], path: Path) -> None:
        save_checkpoint(path, self.architecture, params, network)

    def io_spec(self, params: dict[str, Any]) -> IOSpec:
        return io_spec(params, self.architecture)

    def load_checkpoint(self, path: Path) -> Artifact:
        loaded = load_checkpoint(path, self.architecture, field="model.checkpoint")
        return self.checkpoint_artifact(path, loaded.io, parameter_count(loaded.module), loaded.params)


class DigitsCnn(TorchClassifier):
    """A small CNN for 8x8 digit images (see :class:`edgeai_torch.nets.DigitsCnn`)."""

    architecture = "digits-cnn"


class MobileNetV2(TorchClassifier):
    """MobileNetV2 with a width multiplier, strided for small inputs (see :class:`edgeai_torch.nets.MobileNetV2`)."""

    architecture = "mobilenetv2"


class DenseTaskModel(TorchClassifier):
    """Base of the detector and the segmenter: the classifiers' training set-up with dense targets.

    The validation number :class:`EpochBook` keeps the best epoch by is the task's quality (quick mAP@.5 or
    mIoU, see :mod:`edgeai_torch.vision`), recorded as ``validation_quality``/``test_quality``; the artifact
    declares how its outputs are decoded (``metadata["postprocess"]``).
    """

    task: ClassVar[str] = ""
    postprocess: ClassVar[Mapping[str, Any]] = {}

    def network_params(self, dataset: Dataset) -> dict[str, Any]:
        if dataset.task != self.task:
            raise DatasetError(
                f"model {self.name} trains on a {self.task} dataset (e.g. "
                f"{'shapes' if self.task == 'detection' else 'shapes-segmentation'}), not on {dataset.name} "
                f"({dataset.task})"
            )
        return super().network_params(dataset)

    def fit(
        self, network: nn.Module, arrays: dict[str, Any], settings: TrainSettings, book: EpochBook
    ) -> None:
        from edgeai_torch.vision import run_dense_epochs

        run_dense_epochs(network, self.task, arrays, settings, book)

    def accuracy(self, network: nn.Module, inputs: np.ndarray, targets: Any) -> float | None:
        from edgeai_torch.vision import detection_quality, segmentation_quality

        with torch_threads(self.params["threads"]):
            if self.task == "detection":
                return detection_quality(network, inputs, list(targets))
            return segmentation_quality(network, inputs, targets)

    def dense_arrays(self, dataset: Dataset, params: dict[str, Any]) -> dict[str, Any]:
        """The splits as (inputs, targets) and the train split's dense training targets."""
        from edgeai_torch.nets import DETECTOR_STRIDE
        from edgeai_torch.vision import detector_targets

        found: dict[str, Any] = {}
        for name in ("train", "validation", "test"):
            split = dataset.split(name)
            inputs = np.ascontiguousarray(split.input, dtype=np.float32)
            targets = split.targets if self.task == "detection" else np.asarray(split.targets, dtype=np.int64)
            found[name] = (inputs, targets)
        if len(found["train"][0]) == 0:
            raise DatasetError(f"dataset {dataset.name} has an empty train split; nothing to train on")
        train_targets = found["train"][1]
        if self.task == "detection":
            found["train_dense"] = detector_targets(
                list(train_targets), int(params["classes"]), int(params["image_size"]), DETECTOR_STRIDE
            )
        else:
            found["train_dense"] = {"mask": train_targets}
        return found

    def training_arrays(self, dataset: Dataset, check: Any) -> dict[str, Any]:
        arrays = self.dense_arrays(dataset, self.network_params(dataset))
        check(arrays["train"][0])
        return arrays

    def training_metadata(
        self, params: dict[str, Any], result: TrainResult, parameter_count: int, dataset: Dataset
    ) -> dict[str, Any]:
        metadata = super().training_metadata(params, result, parameter_count, dataset)
        metric = "map50" if self.task == "detection" else "miou"
        # the classifiers' accuracy fields hold this task's quick validation metric: say which
        metadata["validation_metric"] = metric
        metadata["postprocess"] = dict(self.postprocess)
        return metadata

    def checkpoint_artifact(
        self, path: Path, io: IOSpec, parameter_count: int, params: dict[str, Any] | None = None
    ) -> Artifact:
        # a checkpoint without its sidecar still declares how its outputs are decoded
        artifact = super().checkpoint_artifact(path, io, parameter_count, params)
        recorded = artifact.metadata.get("postprocess")
        if recorded is not None:
            # a sidecar edited by hand: fail now, naming the field, rather than after the benchmark
            check_postprocess(self.task, recorded, io, f"model.checkpoint {path.name} (its sidecar)")
            return artifact
        metadata = {**artifact.metadata, "postprocess": dict(self.postprocess)}
        return self.save_artifact(artifact.path, artifact.format, artifact.io, metadata)


class ShapesDetector(DenseTaskModel):
    """The CenterNet-style detector (see :class:`edgeai_torch.nets.ShapesDetector`)."""

    architecture = "shapes-detector"
    task = "detection"
    postprocess = DETECTOR_POSTPROCESS


class ShapesSegmenter(DenseTaskModel):
    """The tiny U-Net (see :class:`edgeai_torch.nets.ShapesSegmenter`)."""

    architecture = "shapes-segmenter"
    task = "segmentation"
    postprocess = SEGMENTER_POSTPROCESS
