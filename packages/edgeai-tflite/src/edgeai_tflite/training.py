"""Seeded training of the Keras classifiers, shared by every trainable model of edgeai-tflite.

The loop mirrors edgeai-torch's trainer so the twins compare fairly: Adam with cross-entropy on logits, a
per-step cosine decay of the learning rate to 0, validation accuracy after every epoch, the best-validation
weights kept (ties go to the later epoch), test accuracy at the end. ``keras.utils.set_random_seed`` before the
network is built seeds the initial weights and the data order, so the same seed gives the same weights.

Speed: ``jit_compile=False`` (XLA compilation costs more than it saves here); for small models several steps per
``tf.function`` call (``steps_per_execution``, which does not change the arithmetic); a ``tf.data`` pipeline with a
dynamic batch dimension, so the train function is traced once; and validation accuracy computed with eager calls,
so no evaluation function is traced at all. Tracing dominates the first epoch of a large network (MobileNetV2:
20-40 s on two busy cores); later epochs cost what the arithmetic costs.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import Dataset, DatasetError, EdgeaiError, NullProgress, Progress
from edgeai_tflite._tf import keras, tf

log = logging.getLogger(__name__)

#: Upper bound of ``steps_per_execution``: enough to amortize the Python overhead of small models.
MAX_STEPS_PER_EXECUTION = 16
#: Models with more layers than this run one step per call: tracing a multi-step train function costs them more
#: (MobileNetV2: 25-40 s) than the per-step overhead it saves.
MULTI_STEP_MAX_LAYERS = 40


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


@dataclass
class TrainResult:
    """What training measured; the model holds the best-validation weights when it is returned."""

    epochs: int
    final_train_loss: float
    best_validation_accuracy: float | None
    best_epoch: int
    test_accuracy: float | None
    training_time_s: float
    history: list[dict[str, Any]] = field(default_factory=list)


def set_threads(threads: int) -> None:
    """Ask TensorFlow for ``threads`` intra-op threads (and one inter-op thread).

    TensorFlow fixes its thread pools when it first runs an operation; after that the setting cannot change in
    this process, which is logged rather than raised (training still works, with the threads already chosen).
    """
    try:
        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        if tf.config.threading.get_inter_op_parallelism_threads() != 1:
            tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        log.info(
            "TensorFlow is already running in this process; it keeps %d intra-op thread(s) instead of %d",
            tf.config.threading.get_intra_op_parallelism_threads(),
            threads,
        )


def split_arrays(dataset: Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    split = dataset.split(name)
    inputs = np.ascontiguousarray(split.inputs, dtype=np.float32)
    return inputs, np.asarray(split.targets).astype(np.int64, copy=False)


def _batches(inputs: np.ndarray, targets: np.ndarray, batch: int, shuffle_seed: int | None = None) -> Any:
    """A ``tf.data`` pipeline with a dynamic batch dimension.

    Keras traces its train/predict functions once per input signature; numpy arrays give the last, smaller batch
    a signature of its own and with it a second trace, which costs seconds for a network the size of
    MobileNetV2. Batches whose first dimension is ``None`` are traced once. The shuffle is seeded and
    reshuffled every epoch.
    """
    data = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle_seed is not None:
        data = data.shuffle(len(inputs), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch).prefetch(2)


def accuracy(model: keras.Model, inputs: np.ndarray, targets: np.ndarray, batch: int = 256) -> float | None:
    """Top-1 accuracy in inference mode (BatchNorm moving statistics, no dropout); None for an empty split."""
    if len(inputs) == 0:
        return None
    correct = 0
    for start in range(0, len(inputs), batch):  # eager calls: no predict function to trace for one pass
        logits = np.asarray(model(inputs[start : start + batch], training=False))
        correct += int(np.sum(np.argmax(logits, axis=1) == targets[start : start + batch]))
    return correct / len(inputs)


class _EpochEnd(keras.callbacks.Callback):
    """Keeps the best-validation weights, reports progress and writes ``metrics.jsonl``."""

    def __init__(
        self,
        settings: TrainSettings,
        progress: Progress,
        started: float,
        validation: tuple[np.ndarray, np.ndarray],
    ) -> None:
        super().__init__()
        self.settings, self.progress, self.started = settings, progress, started
        self.validation = validation
        self.best_weights: list[np.ndarray] | None = None
        self.best_accuracy: float | None = None
        self.best_epoch = settings.epochs
        self.loss = float("nan")
        self.history: list[dict[str, Any]] = []
        self._jsonl: Any = None
        if settings.logdir is not None:
            settings.logdir.mkdir(parents=True, exist_ok=True)
            self._jsonl = (settings.logdir / "metrics.jsonl").open("w", encoding="utf-8")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        number = epoch + 1
        self.loss = float(logs.get("loss", float("nan")))
        if not math.isfinite(self.loss):
            raise EdgeaiError(
                f"training diverged at epoch {number} (loss {self.loss}); "
                "lower model.learning_rate or check the dataset's normalization"
            )
        val_acc = accuracy(self.model, *self.validation)
        if val_acc is None or self.best_accuracy is None or val_acc >= self.best_accuracy:
            self.best_accuracy, self.best_epoch = val_acc, number
            self.best_weights = [np.array(w, copy=True) for w in self.model.get_weights()]
        row = {
            "train/loss": self.loss,
            "validation/accuracy": val_acc,
            "train/learning_rate": _learning_rate(self.model),
            "time_s": time.perf_counter() - self.started,
        }
        self.history.append({"epoch": number, **row})
        self.write(number, row)
        shown = "n/a" if val_acc is None else f"{val_acc:.4f}"
        self.progress.update(
            number, self.settings.epochs, f"epoch {number} loss {self.loss:.4f} val_acc {shown}"
        )

    def write(self, epoch: int, row: dict[str, Any]) -> None:
        if self._jsonl is not None:
            self._jsonl.write(json.dumps({"epoch": epoch, **row}) + "\n")
            self._jsonl.flush()

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()


def train_classifier(
    model: keras.Model,
    dataset: Dataset,
    settings: TrainSettings,
    progress: Progress | None = None,
    check_inputs: Callable[[np.ndarray], None] | None = None,
) -> TrainResult:
    """Train ``model`` on the dataset's train split and leave it holding the best-validation weights.

    The caller seeds Keras (``keras.utils.set_random_seed``) before building ``model``. ``check_inputs`` may reject
    a train split whose shape the network cannot take, before any work is done.
    """
    progress = progress or NullProgress()
    x_train, y_train = split_arrays(dataset, "train")
    if len(x_train) == 0:
        raise DatasetError(f"dataset {dataset.name} has an empty train split; nothing to train on")
    if check_inputs is not None:
        check_inputs(x_train)
    x_val, y_val = split_arrays(dataset, "validation")
    x_test, y_test = split_arrays(dataset, "test")
    if len(x_val) == 0:
        log.warning("dataset %s has no validation split: keeping the weights of the last epoch", dataset.name)

    steps_per_epoch = math.ceil(len(x_train) / settings.batch_size)
    rate: Any = settings.learning_rate
    if settings.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            settings.learning_rate, settings.epochs * steps_per_epoch
        )
    optimizer = keras.optimizers.Adam(rate, weight_decay=settings.weight_decay or None)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,
        steps_per_execution=_steps_per_execution(model, steps_per_epoch),
    )
    started = time.perf_counter()
    callback = _EpochEnd(settings, progress, started, (x_val, y_val))
    callbacks: list[Any] = [callback]
    if settings.logdir is not None:
        callbacks.append(
            keras.callbacks.TensorBoard(str(settings.logdir), write_graph=False, profile_batch=0)
        )
    try:
        model.fit(
            _batches(x_train, y_train, settings.batch_size, shuffle_seed=settings.seed),
            epochs=settings.epochs,
            shuffle=False,  # the pipeline shuffles, seeded
            callbacks=callbacks,
            verbose=0,
        )
        training_time = time.perf_counter() - started
        if callback.best_weights is not None:
            model.set_weights(callback.best_weights)
        test_acc = accuracy(model, x_test, y_test)
        callback.write(
            settings.epochs,
            {
                "test/accuracy": test_acc,
                "validation/best_accuracy": callback.best_accuracy,
                "validation/best_epoch": callback.best_epoch,
            },
        )
    finally:
        callback.close()
    return TrainResult(
        epochs=settings.epochs,
        final_train_loss=callback.loss,
        best_validation_accuracy=callback.best_accuracy,
        best_epoch=callback.best_epoch,
        test_accuracy=test_acc,
        training_time_s=training_time,
        history=callback.history,
    )


def _steps_per_execution(model: keras.Model, steps_per_epoch: int) -> int:
    if len(model.layers) > MULTI_STEP_MAX_LAYERS:
        return 1
    return max(1, min(steps_per_epoch, MAX_STEPS_PER_EXECUTION))


def _learning_rate(model: keras.Model) -> float | None:
    """The optimizer's current learning rate (the schedule's value at its step count)."""
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:  # an optimizer without a readable rate: the metric is informative only
        return None
