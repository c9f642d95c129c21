"""The ``digits-cnn`` and ``mobilenetv2`` model components: train on a dataset or load a checkpoint.

Both write the same artifact (format ``torch``, see :mod:`edgeai_torch.checkpoint`) and differ only in their
architecture parameters, so one base class does the work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeai_core.api import Artifact, EpochBook, IOSpec, TrainableClassifier, TrainSettings
from edgeai_torch import FORMAT
from edgeai_torch.checkpoint import io_spec, load_checkpoint, save_checkpoint
from edgeai_torch.nets import ARCHITECTURE_PARAMS, build, parameter_count
from edgeai_torch.training import TensorBoardScalars, accuracy, run_epochs, tensorboard_scalars, torch_threads

log = logging.getLogger(__name__)

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
        return io_spec(params)

    def load_checkpoint(self, path: Path) -> Artifact:
        loaded = load_checkpoint(path, self.architecture, field="model.checkpoint")
        return self.checkpoint_artifact(path, loaded.io, parameter_count(loaded.module), loaded.params)


class DigitsCnn(TorchClassifier):
    """A small CNN for 8x8 digit images (see :class:`edgeai_torch.nets.DigitsCnn`)."""

    architecture = "digits-cnn"


class MobileNetV2(TorchClassifier):
    """MobileNetV2 with a width multiplier, strided for small inputs (see :class:`edgeai_torch.nets.MobileNetV2`)."""

    architecture = "mobilenetv2"
