"""A framework-free kit for trainable image classifiers: what models in any framework share.

- :mod:`edgeai_core.shared_params`: the parameter declarations (light, for registration modules).
- :class:`TrainSettings` and :class:`TrainResult`: what a trainer takes and what it measured.
- :class:`EpochBook`: the per-epoch bookkeeping every trainer does the same way: the divergence check, the
  best-validation epoch (its weights are what training returns: early stopping by restoring the best epoch),
  the history, ``metrics.jsonl`` and the progress line.
- :class:`TrainableClassifier`: the model component around a framework's network: train on a dataset or load
  a checkpoint, and the artifact metadata ``edgeai train`` writes to ``train.json``.

Pure Python and numpy; a plugin brings the framework (build, fit, save, load).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol

import numpy as np

from edgeai_core.artifacts import SIDECAR_SUFFIX, Artifact, IOSpec
from edgeai_core.components import Dataset, Model
from edgeai_core.errors import DatasetError, EdgeaiError, UsageError
from edgeai_core.progress import NullProgress, Progress

log = logging.getLogger(__name__)

# -- settings, results, bookkeeping ----------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0
    schedule: str = "cosine"
    seed: int = 0
    threads: int = 1
    logdir: Path | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any], seed: int) -> TrainSettings:
        """The settings of a model declared with :func:`training_params`."""
        return cls(
            epochs=params["epochs"],
            batch_size=params["batch_size"],
            learning_rate=params["learning_rate"],
            weight_decay=params["weight_decay"],
            schedule=params["schedule"],
            seed=seed,
            threads=params["threads"],
            logdir=Path(params["logdir"]) if params["logdir"] is not None else None,
        )

    def steps(self, samples: int) -> int:
        """Optimizer steps over all epochs (what a cosine schedule decays over)."""
        return self.epochs * math.ceil(samples / self.batch_size)


@dataclass
class TrainResult:
    """What training measured; the network holds the best-validation weights when it is returned."""

    epochs: int
    final_train_loss: float
    best_validation_accuracy: float | None
    best_epoch: int
    test_accuracy: float | None
    training_time_s: float
    history: list[dict[str, Any]] = field(default_factory=list)


def split_arrays(dataset: Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A split as contiguous float32 inputs and int64 targets; an empty split gives empty arrays."""
    split = dataset.split(name)
    inputs = np.ascontiguousarray(split.input, dtype=np.float32)
    return inputs, np.asarray(split.targets).astype(np.int64, copy=False)


def top1_accuracy(
    predict: Callable[[np.ndarray], Any], inputs: Any, targets: Any, batch: int = 256
) -> float | None:
    """Top-1 accuracy of ``predict`` (logits of a batch) over ``inputs``; None for an empty split."""
    if len(inputs) == 0:
        return None
    correct = 0
    for start in range(0, len(inputs), batch):
        logits = np.asarray(predict(inputs[start : start + batch]))
        correct += int(np.sum(np.argmax(logits, axis=1) == np.asarray(targets[start : start + batch])))
    return correct / len(inputs)


class MetricsSink(Protocol):
    """Where a framework writes the rows of ``metrics.jsonl`` too (TensorBoard event files, say)."""

    def write(self, step: int, scalars: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class EpochBook:
    """Per-epoch bookkeeping of a trainer: divergence, the best-validation epoch, history, metrics and progress.

    Every epoch: :meth:`epoch_end`. The best epoch is the one with the highest validation accuracy (ties go to
    the later epoch: same accuracy, lower training loss; every epoch is the best without a validation split);
    its weights (``snapshot()``) are kept in :attr:`best_weights` for the trainer to restore. ``metrics.jsonl`` in
    ``settings.logdir`` gets one JSON object per epoch and a last one with the test accuracy; ``sink`` (a
    TensorBoard writer, say) gets the same rows.
    """

    def __init__(
        self,
        settings: TrainSettings,
        progress: Progress | None = None,
        sink: MetricsSink | None = None,
    ) -> None:
        self.settings = settings
        self.progress = progress or NullProgress()
        self.sink = sink
        self.best_weights: Any = None
        self.best_accuracy: float | None = None
        self.best_epoch = settings.epochs
        self.loss = float("nan")
        self.history: list[dict[str, Any]] = []
        self.training_time_s = 0.0
        self._jsonl: IO[str] | None = None
        if settings.logdir is not None:
            settings.logdir.mkdir(parents=True, exist_ok=True)
            self._jsonl = (settings.logdir / "metrics.jsonl").open("w", encoding="utf-8")
        self.started = time.perf_counter()

    def epoch_end(
        self,
        epoch: int,
        loss: float,
        validation_accuracy: float | None,
        learning_rate: float | None,
        snapshot: Callable[[], Any],
    ) -> None:
        """Record epoch ``epoch`` (from 1); :class:`EdgeaiError` when the loss is not finite."""
        self.loss = loss
        if not math.isfinite(loss):
            raise EdgeaiError(
                f"training diverged at epoch {epoch} (loss {loss}); "
                "lower model.learning_rate or check the dataset's normalization"
            )
        if (
            validation_accuracy is None
            or self.best_accuracy is None
            or validation_accuracy >= self.best_accuracy
        ):
            self.best_accuracy, self.best_epoch = validation_accuracy, epoch
            self.best_weights = snapshot()
        row = {
            "train/loss": loss,
            "validation/accuracy": validation_accuracy,
            "train/learning_rate": learning_rate,
            "time_s": time.perf_counter() - self.started,
        }
        self.history.append({"epoch": epoch, **row})
        self.write(epoch, row)
        shown = "n/a" if validation_accuracy is None else f"{validation_accuracy:.4f}"
        self.progress.step(epoch, self.settings.epochs, f"epoch {epoch} loss {loss:.4f} val_acc {shown}")

    def stop(self) -> None:
        """The epochs are done: the training time ends here (restoring weights and testing are not part of it)."""
        self.training_time_s = time.perf_counter() - self.started

    def result(self, test_accuracy: float | None) -> TrainResult:
        """Write the closing metrics row and return what training measured."""
        self.write(
            self.settings.epochs,
            {
                "test/accuracy": test_accuracy,
                "validation/best_accuracy": self.best_accuracy,
                "validation/best_epoch": self.best_epoch,
            },
        )
        return TrainResult(
            epochs=self.settings.epochs,
            final_train_loss=self.loss,
            best_validation_accuracy=self.best_accuracy,
            best_epoch=self.best_epoch,
            test_accuracy=test_accuracy,
            training_time_s=self.training_time_s,
            history=self.history,
        )

    def write(self, epoch: int, row: dict[str, Any]) -> None:
        if self._jsonl is None:
            return
        self._jsonl.write(json.dumps({"epoch": epoch, **row}) + "\n")
        self._jsonl.flush()
        if self.sink is not None:
            self.sink.write(epoch, row)

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self.sink is not None:
            self.sink.close()


def training_splits(
    dataset: Dataset, check_inputs: Callable[[np.ndarray], None] | None = None
) -> dict[str, Any]:
    """The train, validation and test splits as arrays (:func:`split_arrays`), checked before any work.

    An empty train split is a :class:`DatasetError`; ``check_inputs`` may reject train inputs the network cannot
    take; without a validation split the last epoch's weights are kept (logged).
    """
    train = split_arrays(dataset, "train")
    if len(train[0]) == 0:
        raise DatasetError(f"dataset {dataset.name} has an empty train split; nothing to train on")
    if check_inputs is not None:
        check_inputs(train[0])
    found = {
        "train": train,
        "validation": split_arrays(dataset, "validation"),
        "test": split_arrays(dataset, "test"),
    }
    if len(found["validation"][0]) == 0:
        log.warning("dataset %s has no validation split: keeping the weights of the last epoch", dataset.name)
    return found


def sidecar_metadata(path: Path) -> dict[str, Any]:
    """What training recorded (test accuracy, time) when a checkpoint's sidecar came along; {} otherwise."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return {}
    try:
        return dict(json.loads(sidecar.read_text(encoding="utf-8")).get("metadata") or {})
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        log.info("ignoring unreadable sidecar %s: %s", sidecar, exc)
        return {}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


# -- the model component -----------------------------------------------------------------------------------


class TrainableClassifier(Model):
    """An image classifier trained on a dataset (or loaded from its checkpoint), whatever the framework.

    Subclasses declare the class attributes and implement :meth:`build_network`, :meth:`parameter_count`,
    :meth:`fit`, :meth:`restore_weights`, :meth:`accuracy`, :meth:`save_network`, :meth:`io_spec` and
    :meth:`load_checkpoint`; the rest (parameters of the network, the input check, the splits, the epoch
    bookkeeping, settings, logging, the artifact and its metadata) is shared.
    """

    #: the architecture this model builds (a key of ``architecture_params``)
    architecture: ClassVar[str] = ""
    #: architecture name -> the parameters that describe a network (what a checkpoint stores)
    architecture_params: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: the artifact format and its file name in the work directory
    artifact_format: ClassVar[str] = ""
    checkpoint_name: ClassVar[str] = ""

    # -- what a framework brings

    def build_network(self, params: dict[str, Any]) -> Any:
        """The seeded, untrained network for the architecture parameters."""
        raise NotImplementedError

    def parameter_count(self, network: Any) -> int:
        raise NotImplementedError

    def fit(self, network: Any, arrays: dict[str, Any], settings: TrainSettings, book: EpochBook) -> None:
        """Train ``network`` on ``arrays["train"]`` (inputs, targets) for ``settings.epochs`` epochs, handing each
        epoch to ``book.epoch_end`` (with the validation accuracy on ``arrays["validation"]``)."""
        raise NotImplementedError

    def restore_weights(self, network: Any, weights: Any) -> None:
        """Put back the weights a ``snapshot`` given to :meth:`EpochBook.epoch_end` took."""
        raise NotImplementedError

    def accuracy(self, network: Any, inputs: np.ndarray, targets: np.ndarray) -> float | None:
        """Top-1 accuracy in inference mode (see :func:`top1_accuracy`)."""
        raise NotImplementedError

    def metrics_sink(self, logdir: Path | None) -> MetricsSink | None:
        """Where the per-epoch metrics go besides ``metrics.jsonl`` (nowhere by default)."""
        return None

    def save_network(self, network: Any, params: dict[str, Any], path: Path) -> None:
        raise NotImplementedError

    def io_spec(self, params: dict[str, Any]) -> IOSpec:
        raise NotImplementedError

    def load_checkpoint(self, path: Path) -> Artifact:
        raise NotImplementedError

    # -- shared

    def prepare(self, dataset: Dataset | None) -> Artifact:
        checkpoint = self.params["checkpoint"]
        if checkpoint is not None:
            return self.load_checkpoint(Path(checkpoint).expanduser())
        if dataset is None:
            raise UsageError(
                f"model {self.name} needs a dataset to train on, or model.checkpoint to load a trained one"
            )
        return self.train(dataset)

    def network_params(self, dataset: Dataset) -> dict[str, Any]:
        """The architecture parameters; ``classes`` defaults to the dataset's number of classes."""
        params = {k: self.params[k] for k in self.architecture_params[self.architecture] if k != "classes"}
        classes = self.params["classes"]
        if classes is None:
            classes = len(dataset.class_names)
            if classes == 0:  # a dataset without class names: count the labels
                targets = dataset.split("train").targets
                classes = int(np.max(targets)) + 1 if len(targets) else 0
            if classes < 2:
                raise UsageError(
                    f"model.classes: dataset {dataset.name} names no classes; give the number with --classes"
                )
        params["classes"] = int(classes)
        return params

    def input_check(self, params: dict[str, Any], dataset: Dataset) -> Callable[[Any], None]:
        """A check that the train split's samples have the shape the network is built for (its IO spec's)."""
        first = self.io_spec(params).inputs[0]
        layout = first.layout or "NCHW"
        want = tuple(first.shape[1:])
        nchw = layout == "NCHW"
        swapped = (want[1], want[2], want[0]) if nchw else (want[2], want[0], want[1])
        names = "(channels, image_size, image_size)" if nchw else "(image_size, image_size, channels)"

        def check(inputs: Any) -> None:
            got = tuple(inputs.shape[1:])
            if got != want:
                hint = ""
                if got == swapped:
                    other = "NHWC" if nchw else "NCHW"
                    hint = (
                        f" The samples are {other}: set the dataset's layout to {layout} "
                        f"(--dataset-layout {layout})."
                    )
                raise UsageError(
                    f"dataset {dataset.name} gives samples of shape {got}, but model {self.name} is built for "
                    f"{names} = {want} in {layout} layout; set the model's --channels/"
                    f"--image-size or the dataset's size, channels and layout parameters to match.{hint}"
                )

        return check

    def train(self, dataset: Dataset) -> Artifact:
        params = self.network_params(dataset)
        network = self.build_network(params)
        settings = TrainSettings.from_params(self.params, self.context.seed)
        count = self.parameter_count(network)
        log.info("training %s (%d parameters) for %d epochs", self.name, count, settings.epochs)
        result = self.run_training(network, dataset, settings, self.input_check(params, dataset))
        path = self.context.workdir / self.checkpoint_name
        self.save_network(network, params, path)
        log.info(
            "%s: test accuracy %s, best validation accuracy %s at epoch %d, %.1f s",
            self.name,
            _fmt(result.test_accuracy),
            _fmt(result.best_validation_accuracy),
            result.best_epoch,
            result.training_time_s,
        )
        return self.save_artifact(
            path,
            self.artifact_format,
            self.io_spec(params),
            self.training_metadata(params, result, count, dataset),
        )

    def training_arrays(self, dataset: Dataset, check: Callable[[Any], None]) -> dict[str, Any]:
        """What :meth:`fit` and :meth:`accuracy` take: ``{"train": (inputs, targets), "validation": ...,
        "test": ...}`` (:func:`training_splits`); a model whose targets need encoding (detection heatmaps)
        overrides this."""
        return training_splits(dataset, check)

    def run_training(
        self, network: Any, dataset: Dataset, settings: TrainSettings, check: Callable[[Any], None]
    ) -> TrainResult:
        """Fit ``network``, leave it with the best-validation weights and test it."""
        arrays = self.training_arrays(dataset, check)
        book = EpochBook(settings, self.context.progress, self.metrics_sink(settings.logdir))
        try:
            self.fit(network, arrays, settings, book)
            book.stop()
            if book.best_weights is not None:
                self.restore_weights(network, book.best_weights)
            return book.result(self.accuracy(network, *arrays["test"]))
        finally:
            book.close()

    def training_metadata(
        self, params: dict[str, Any], result: TrainResult, parameter_count: int, dataset: Dataset
    ) -> dict[str, Any]:
        """The trained artifact's metadata (``edgeai train`` writes it to ``train.json``)."""
        return {
            "architecture": self.architecture,
            "params": params,
            "epochs": result.epochs,
            "final_train_loss": result.final_train_loss,
            "best_validation_accuracy": result.best_validation_accuracy,
            "best_epoch": result.best_epoch,
            "test_accuracy": result.test_accuracy,
            "training_time_s": result.training_time_s,
            "parameter_count": parameter_count,
            "seed": self.context.seed,
            "threads": self.params["threads"],
            "dataset": dataset.name,
        }

    def checkpoint_artifact(
        self, path: Path, io: IOSpec, parameter_count: int, params: dict[str, Any] | None = None
    ) -> Artifact:
        """The artifact of a loaded checkpoint: copied into the work directory, with what its sidecar recorded.

        ``params`` (the architecture parameters) default to those the sidecar recorded.
        """
        metadata = sidecar_metadata(path)
        if params is None:
            recorded = metadata.get("params")
            params = recorded if isinstance(recorded, dict) else {}
        target = self.context.workdir / self.checkpoint_name
        if path.resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        metadata.update(
            {
                "architecture": self.architecture,
                "params": params,
                "parameter_count": parameter_count,
                "loaded_from": str(path),
            }
        )
        return self.save_artifact(target, self.artifact_format, io, metadata)
