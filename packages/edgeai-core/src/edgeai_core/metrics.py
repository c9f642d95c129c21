"""Quality metrics of model outputs, computed the same way for every runtime so results compare.

Classification reports accuracy, top-k accuracy, the confusion matrix and per-class precision and
sensitivity (recall). Small edge datasets are often imbalanced, so it also reports the macro means and
the geometric mean of the per-class sensitivities, which collapses to 0 when any class is never
recognized. Undefined values (precision of a class never predicted, sensitivity of a class absent from
the targets) are ``None`` rather than NaN, because results are JSON and JSON has no NaN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Rows argsorted at once for top-k, which bounds the temporary index array for large (N, C) outputs.
_TOPK_CHUNK_ROWS = 4096


def classification_metrics(
    outputs: Any,
    targets: Any,
    class_names: Sequence[str] | None = None,
    top_k: int = 5,
) -> dict[str, Any]:
    """Compare classifier ``outputs`` with integer ``targets`` of shape (N,).

    ``outputs`` is either an (N, C) array of scores (logits or probabilities; the highest wins, ties go to
    the lower class index) or an (N,) array of predicted labels, in which case top-k accuracy is ``None``.
    The number of classes is C, else ``len(class_names)``, else the largest label + 1. ``top5_accuracy``
    is the top-``min(top_k, C)`` accuracy; ``top_k`` reports the k used.
    """
    scores_or_labels = np.asarray(outputs)
    truth = _labels(np.asarray(targets), "targets")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if scores_or_labels.ndim not in (1, 2):
        raise ValueError(
            "outputs must be an (N, C) array of scores or an (N,) array of labels, "
            f"got shape {scores_or_labels.shape}"
        )
    n = int(truth.shape[0])
    if scores_or_labels.shape[0] != n:
        raise ValueError(f"outputs have {scores_or_labels.shape[0]} rows but targets {n}")
    if n == 0:
        raise ValueError("no samples to evaluate (outputs and targets are empty)")
    names = [str(name) for name in class_names] if class_names is not None else None

    k: int | None
    if scores_or_labels.ndim == 2:
        scores = scores_or_labels
        num_classes = int(scores.shape[1])
        if num_classes == 0:
            raise ValueError("outputs have 0 columns (classes)")
        if names is not None and len(names) != num_classes:
            raise ValueError(f"outputs have {num_classes} columns but there are {len(names)} class names")
        if scores.dtype.kind not in "iuf":
            raise ValueError(f"output scores must be numbers, got dtype {scores.dtype}")
        if scores.dtype.kind == "f" and not np.isfinite(scores).all():
            log.warning("classification outputs contain NaN or infinite scores; NaN ranks lowest")
        _check_range(truth, num_classes, "target")
        k = min(top_k, num_classes)
        predicted, hits_top_k = _top_k(scores, truth, k)
        top_k_accuracy: float | None = float(hits_top_k.mean())
    else:
        predicted = _labels(scores_or_labels, "predicted labels")
        largest = int(max(predicted.max(), truth.max()))
        num_classes = len(names) if names is not None else largest + 1
        _check_range(predicted, num_classes, "predicted label")
        _check_range(truth, num_classes, "target")
        k, top_k_accuracy = None, None

    confusion = np.bincount(truth * num_classes + predicted, minlength=num_classes * num_classes)
    confusion = confusion.reshape(num_classes, num_classes)
    correct = np.diag(confusion)
    support = confusion.sum(axis=1)  # true members of each class
    predicted_count = confusion.sum(axis=0)
    precision = [_ratio(int(c), int(p)) for c, p in zip(correct, predicted_count, strict=True)]
    sensitivity = [_ratio(int(c), int(s)) for c, s in zip(correct, support, strict=True)]
    defined_sensitivity = [s for s in sensitivity if s is not None]

    return {
        "task": "classification",
        "applicable": True,
        "num_samples": n,
        "num_classes": num_classes,
        "class_names": names if names is not None else [str(i) for i in range(num_classes)],
        "accuracy": int(correct.sum()) / n,
        "top5_accuracy": top_k_accuracy,
        "top_k": k,
        "confusion_matrix": confusion.tolist(),
        "per_class": {
            "precision": precision,
            "sensitivity": sensitivity,
            "support": support.tolist(),
        },
        "mean_precision": _mean([p for p in precision if p is not None]),
        "mean_sensitivity": _mean(defined_sensitivity),
        "g_mean": _geometric_mean(defined_sensitivity),
    }


def _labels(values: np.ndarray, what: str) -> np.ndarray:
    """Return ``values`` as a 1-D int64 array, accepting integral floats (some runtimes emit those)."""
    if values.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of integer labels, got shape {values.shape}")
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    if values.dtype.kind == "b":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or not (values == np.round(values)).all():
            raise ValueError(f"{what} must be integer labels, got non-integral numbers")
        return values.astype(np.int64)
    if values.size == 0:
        return values.astype(np.int64)
    raise ValueError(f"{what} must be integer labels, got dtype {values.dtype}")


def _check_range(labels: np.ndarray, num_classes: int, what: str) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        index = int(bad[0])
        raise ValueError(
            f"{what} {int(labels[index])} at index {index} is outside [0, {num_classes}) "
            f"({bad.size} such label{'s' if bad.size > 1 else ''})"
        )


def _top_k(scores: np.ndarray, truth: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the top-1 predictions and whether each target is among the top ``k`` scores.

    A stable argsort of the negated scores orders ties by class index, so top-1 agrees with ``argmax``.
    """
    n = scores.shape[0]
    predicted = np.empty(n, dtype=np.int64)
    hits = np.empty(n, dtype=bool)
    negated_type = np.float64 if scores.dtype.kind in "iu" else scores.dtype  # -x of unsigned wraps around
    for start in range(0, n, _TOPK_CHUNK_ROWS):
        stop = min(start + _TOPK_CHUNK_ROWS, n)
        order = np.argsort(-scores[start:stop].astype(negated_type, copy=False), axis=1, kind="stable")[:, :k]
        predicted[start:stop] = order[:, 0]
        hits[start:stop] = (order == truth[start:stop, None]).any(axis=1)
    return predicted, hits


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _geometric_mean(values: list[float]) -> float | None:
    if not values:
        return None
    if min(values) == 0:
        return 0.0
    return math.exp(sum(math.log(v) for v in values) / len(values))
