"""The ``digits-cnn`` and ``mobilenetv2`` model components: train on a dataset or load a checkpoint.

Both write the same artifact (format ``torch``, see :mod:`edgeai_torch.checkpoint`) and differ only in their
architecture parameters, so one base class does the work.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, ClassVar

import torch

from edgeai_core.api import SIDECAR_SUFFIX, Artifact, Dataset, Model, UsageError
from edgeai_torch import FORMAT
from edgeai_torch.checkpoint import io_spec, load_checkpoint, save_checkpoint
from edgeai_torch.nets import ARCHITECTURE_PARAMS, build, parameter_count
from edgeai_torch.training import TrainSettings, torch_threads, train_classifier

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "model.pt"


class TorchClassifier(Model):
    """Base of the image classifiers: NCHW float32 in, logits out."""

    architecture: ClassVar[str] = ""

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}

    def prepare(self, dataset: Dataset | None) -> Artifact:
        checkpoint = self.params["checkpoint"]
        if checkpoint is not None:
            return self._load(Path(checkpoint))
        if dataset is None:
            raise UsageError(
                f"model {self.name} needs a dataset to train on, or model.checkpoint to load a trained one"
            )
        return self.train(dataset)

    # -- training -------------------------------------------------------------------------------

    def _architecture_params(self, dataset: Dataset) -> dict[str, Any]:
        params = {k: self.params[k] for k in ARCHITECTURE_PARAMS[self.architecture] if k != "classes"}
        classes = self.params["classes"]
        if classes is None:
            classes = len(dataset.class_names)
            if classes == 0:  # a dataset without class names: count the labels
                targets = dataset.split("train").targets
                classes = int(targets.max()) + 1 if len(targets) else 0
            if classes < 2:
                raise UsageError(
                    f"model.classes: dataset {dataset.name} names no classes; give the number with --classes"
                )
        params["classes"] = int(classes)
        return params

    def _check_inputs(self, params: dict[str, Any], dataset: Dataset) -> Any:
        want = (params["channels"], params["image_size"], params["image_size"])

        def check(inputs: torch.Tensor) -> None:
            got = tuple(inputs.shape[1:])
            if got != want:
                raise UsageError(
                    f"dataset {dataset.name} gives samples of shape {got}, but model {self.name} is built for "
                    f"(channels, image_size, image_size) = {want} in NCHW layout; set the model's --channels/"
                    f"--image-size or the dataset's size, channels and layout parameters to match"
                )

        return check

    def train(self, dataset: Dataset) -> Artifact:
        p = self.params
        arch_params = self._architecture_params(dataset)
        torch.manual_seed(self.context.seed)
        with torch_threads(p["threads"]):
            module = build(self.architecture, arch_params)
        settings = TrainSettings(
            epochs=p["epochs"],
            batch_size=p["batch_size"],
            learning_rate=p["learning_rate"],
            weight_decay=p["weight_decay"],
            schedule=p["schedule"],
            seed=self.context.seed,
            threads=p["threads"],
            logdir=Path(p["logdir"]) if p["logdir"] is not None else None,
        )
        log.info(
            "training %s (%d parameters) for %d epochs", self.name, parameter_count(module), settings.epochs
        )
        result = train_classifier(
            module, dataset, settings, self.context.progress, self._check_inputs(arch_params, dataset)
        )
        path = self.context.workdir / CHECKPOINT_NAME
        save_checkpoint(path, self.architecture, arch_params, module)
        log.info(
            "%s: test accuracy %s, best validation accuracy %s at epoch %d, %.1f s",
            self.name,
            _fmt(result.test_accuracy),
            _fmt(result.best_validation_accuracy),
            result.best_epoch,
            result.training_time_s,
        )
        return Artifact(
            path,
            FORMAT,
            io_spec(arch_params),
            producer=f"model:{self.name}",
            versions=self.versions(),
            metadata={
                "architecture": self.architecture,
                "params": arch_params,
                "epochs": result.epochs,
                "final_train_loss": result.final_train_loss,
                "best_validation_accuracy": result.best_validation_accuracy,
                "best_epoch": result.best_epoch,
                "test_accuracy": result.test_accuracy,
                "training_time_s": result.training_time_s,
                "parameter_count": parameter_count(module),
                "seed": self.context.seed,
                "threads": p["threads"],
                "dataset": dataset.name,
            },
        ).save()

    # -- loading --------------------------------------------------------------------------------

    def _load(self, path: Path) -> Artifact:
        loaded = load_checkpoint(path, self.architecture, field="model.checkpoint")
        target = self.context.workdir / CHECKPOINT_NAME
        if path.resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        metadata: dict[str, Any] = {}
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        if sidecar.is_file():  # keep what training measured (test accuracy, time) when the sidecar came along
            try:
                metadata.update(json.loads(sidecar.read_text(encoding="utf-8")).get("metadata") or {})
            except (OSError, ValueError, AttributeError) as exc:
                log.info("ignoring unreadable sidecar %s: %s", sidecar, exc)
        metadata.update(
            {
                "architecture": loaded.architecture,
                "params": loaded.params,
                "parameter_count": parameter_count(loaded.module),
                "loaded_from": str(path),
            }
        )
        return Artifact(
            target,
            FORMAT,
            loaded.io,
            producer=f"model:{self.name}",
            versions=self.versions(),
            metadata=metadata,
        ).save()


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


class DigitsCnn(TorchClassifier):
    """A small CNN for 8x8 digit images (see :class:`edgeai_torch.nets.DigitsCnn`)."""

    architecture = "digits-cnn"


class MobileNetV2(TorchClassifier):
    """MobileNetV2 with a width multiplier, strided for small inputs (see :class:`edgeai_torch.nets.MobileNetV2`)."""

    architecture = "mobilenetv2"
