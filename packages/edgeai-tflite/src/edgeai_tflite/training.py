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

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from edgeai_core.api import IGNORE_INDEX, EpochBook, TrainSettings, top1_accuracy
from edgeai_tflite._tf import keras, tf

log = logging.getLogger(__name__)

#: Upper bound of ``steps_per_execution``: enough to amortize the Python overhead of small models.
MAX_STEPS_PER_EXECUTION = 16
#: Models with more layers than this run one step per call: tracing a multi-step train function costs them more
#: (MobileNetV2: 25-40 s) than the per-step overhead it saves.
MULTI_STEP_MAX_LAYERS = 40


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
    """Top-1 accuracy in inference mode (BatchNorm moving statistics, no dropout); None for an empty split.

    Eager calls: no predict function to trace for one pass.
    """
    return top1_accuracy(lambda x: model(x, training=False), inputs, targets, batch)


def pixel_accuracy(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, batch: int = 64
) -> float | None:
    """Share of pixels whose class is the argmax of a segmenter's NHWC logits; None for an empty split.

    Pixels marked :data:`~edgeai_core.api.IGNORE_INDEX` in the targets are left out."""
    if len(inputs) == 0:
        return None
    correct = 0
    for start in range(0, len(inputs), batch):
        logits = np.asarray(model(inputs[start : start + batch], training=False))
        truth = targets[start : start + batch]
        correct += int(np.sum((np.argmax(logits, axis=-1) == truth) & (truth != IGNORE_INDEX)))
    counted = int(np.sum(targets != IGNORE_INDEX))
    return correct / counted if counted else None


Scorer = Callable[[keras.Model, np.ndarray, np.ndarray], "float | None"]


class _EpochEnd(keras.callbacks.Callback):
    """Hands every epoch to the :class:`EpochBook` (best weights, progress, ``metrics.jsonl``)."""

    def __init__(
        self, book: EpochBook, validation: tuple[np.ndarray, np.ndarray], score: Scorer = accuracy
    ) -> None:
        super().__init__()
        self.book, self.validation, self.score = book, validation, score

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.book.epoch_end(
            epoch + 1,
            float((logs or {}).get("loss", float("nan"))),
            self.score(self.model, *self.validation),
            _learning_rate(self.model),
            lambda: [np.array(w, copy=True) for w in self.model.get_weights()],
        )


def run_epochs(
    model: keras.Model,
    arrays: dict[str, Any],
    settings: TrainSettings,
    book: EpochBook,
    score: Scorer = accuracy,
    ignore_class: int | None = None,
) -> None:
    """``model.fit`` over ``arrays["train"]``, every epoch handed to ``book``; TensorBoard events in the logdir.

    The caller seeds Keras (``keras.utils.set_random_seed``) before building ``model``. ``score`` is the
    validation accuracy that picks the best epoch (top-1; :func:`pixel_accuracy` for segmenters): the loss is
    cross-entropy on logits either way (per pixel for ``(N, H, W, C)`` logits and ``(N, H, W)`` targets;
    targets equal to ``ignore_class`` add nothing).
    """
    x_train, y_train = arrays["train"]
    steps_per_epoch = math.ceil(len(x_train) / settings.batch_size)
    rate: Any = settings.learning_rate
    if settings.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(settings.learning_rate, settings.steps(len(x_train)))
    model.compile(
        optimizer=keras.optimizers.Adam(rate, weight_decay=settings.weight_decay or None),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore_class),
        metrics=["accuracy"],
        jit_compile=False,
        steps_per_execution=_steps_per_execution(model, steps_per_epoch),
    )
    callbacks: list[Any] = [_EpochEnd(book, arrays["validation"], score)]
    if settings.logdir is not None:
        callbacks.append(
            keras.callbacks.TensorBoard(str(settings.logdir), write_graph=False, profile_batch=0)
        )
    model.fit(
        _batches(x_train, y_train, settings.batch_size, shuffle_seed=settings.seed),
        epochs=settings.epochs,
        shuffle=False,  # the pipeline shuffles, seeded
        callbacks=callbacks,
        verbose=0,
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
