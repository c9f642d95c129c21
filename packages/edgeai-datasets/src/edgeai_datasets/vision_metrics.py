"""Detection and segmentation metrics: COCO-style mAP through pycocotools, mIoU in numpy.

These two functions are public: the datasets of edgeai-datasets call them from ``Dataset.evaluate``, and a
dataset of another plugin reuses them the same way::

    from edgeai_datasets.vision_metrics import detection_metrics

    class MyDetectionDataset(Dataset):
        def evaluate(self, outputs, targets):
            return detection_metrics(outputs, targets, self.class_names)

The formats are core's (:mod:`edgeai_core.tasks`): one ``Detections`` and one ``BoxTargets`` per image, boxes
in absolute ``xyxy`` pixels of the image as fed to the model; segmentation predictions and targets are
``(N, H, W)`` integer class maps, :data:`~edgeai_core.tasks.IGNORE_INDEX` (255) marking target pixels left out.

:func:`detection_metrics` converts both sides to COCO's format in memory (``xyxy`` -> ``xywh``, category id =
class index + 1, image id = position + 1, area = box area, ``iscrowd`` from the targets) and runs pycocotools'
``COCOeval`` with its defaults (IoU thresholds .50:.05:.95, 101 recall points, at most 100 detections per
image, areas small < 32^2 <= medium < 96^2 <= large). pycocotools is imported only inside the function (extra
``edgeai-datasets[detection]``); its prints are silenced, its numbers kept.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeai_core.api import IGNORE_INDEX, BoxTargets, Detections, MissingDependencyError, UsageError

__all__ = ["detection_metrics", "segmentation_metrics"]

#: COCOeval's recall thresholds (``np.linspace(0, 1, 101)``), rounded as written in the results
RECALL_POINTS = [round(float(r), 2) for r in np.linspace(0.0, 1.0, 101)]
#: decimals of the precision values in ``pr_curves`` (the results stay small; AP values are not rounded)
CURVE_DECIMALS = 4


def _reference() -> tuple[Any, Any, str]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise MissingDependencyError(
            "detection metrics", "pycocotools", "'edgeai-datasets[detection]'"
        ) from None
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("pycocotools")
    except PackageNotFoundError:  # pragma: no cover - a source checkout on sys.path
        release = "unknown"
    return COCO, COCOeval, f"pycocotools {release}"


def _xywh(boxes: np.ndarray) -> np.ndarray:
    out = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    out[:, 2:] = np.maximum(out[:, 2:] - out[:, :2], 0.0)
    return out


def _mean(values: np.ndarray) -> float | None:
    """COCOeval's average: over entries > -1, None when there are none."""
    kept = values[values > -1]
    return float(np.mean(kept)) if kept.size else None


def coco_dicts(
    predictions: Sequence[Detections], targets: Sequence[BoxTargets], num_classes: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ground truth as a COCO dataset dict and the detections as a COCO results list (ids from 1)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for index, (found, truth) in enumerate(zip(predictions, targets, strict=True)):
        image_id = index + 1
        height, width = truth.image_size
        images.append({"id": image_id, "width": width, "height": height})
        crowd = truth.iscrowd if truth.iscrowd is not None else np.zeros(len(truth), bool)
        for box, label, is_crowd in zip(_xywh(truth.boxes), truth.labels, crowd, strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [float(v) for v in box],
                    "area": float(box[2] * box[3]),
                    "iscrowd": int(bool(is_crowd)),
                }
            )
        for box, score, label in zip(_xywh(found.boxes), found.scores, found.labels, strict=True):
            results.append(
                {
                    "id": len(results) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [float(v) for v in box],
                    "area": float(box[2] * box[3]),
                    "score": float(score),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": k + 1, "name": str(k)} for k in range(num_classes)]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def detection_metrics(
    predictions: Sequence[Detections], targets: Sequence[BoxTargets], class_names: Sequence[str]
) -> dict[str, Any]:
    """COCO-style detection quality of ``predictions`` against ``targets`` (one of each per image).

    Returns ``task``, ``applicable``, ``num_images``, ``num_classes``, ``class_names``, ``num_targets``
    (true boxes, crowd regions excluded), ``num_detections``, ``map`` (mAP@[.5:.95]), ``map_50``,
    ``map_75``, ``map_small``, ``map_medium``, ``map_large``, ``mar_100`` (COCOeval's ``stats[0:6]`` and
    ``stats[8]``; -1 where there is nothing to average, COCO's convention), ``per_class`` (``ap``,
    ``ap_50``: floats, None for a class without true boxes; ``support``: true boxes per class),
    ``pr_curves`` (precision at ``iou`` 0.5 over the 101 ``recall`` points, per class name; None for a class
    without true boxes) and ``reference`` (the pycocotools release).

    Raises UsageError when the counts differ or a detection's label is not a class index.
    """
    names = [str(n) for n in class_names]
    num_classes = len(names)
    if len(predictions) != len(targets):
        raise UsageError(f"detection metrics: {len(predictions)} predictions for {len(targets)} images")
    if num_classes < 1:
        raise UsageError("detection metrics: the dataset has no class names")
    for i, (found, truth) in enumerate(zip(predictions, targets, strict=True)):
        if not isinstance(found, Detections) or not isinstance(truth, BoxTargets):
            raise UsageError(
                f"detection metrics: image {i} has {type(found).__name__} and {type(truth).__name__}, "
                "expected Detections and BoxTargets"
            )
        bad = (found.labels < 0) | (found.labels >= num_classes)
        if bad.any():
            raise UsageError(
                f"detection metrics: image {i}, detection {int(np.argmax(bad))} has label "
                f"{int(found.labels[bad][0])}, outside the dataset's {num_classes} classes; the model's "
                "classes do not match the dataset's"
            )
    COCO, COCOeval, reference = _reference()
    dataset, results = coco_dicts(predictions, targets, num_classes)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        found = COCO()
        found.dataset = {
            "images": dataset["images"],
            "categories": dataset["categories"],
            "annotations": results,
        }
        found.createIndex()
        evaluation = COCOeval(truth, found, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = [float(v) for v in evaluation.stats]
    # precision[T, R, K, A, M]: IoU thresholds, recall points, classes, area ranges (all first), max dets
    precision = np.asarray(evaluation.eval["precision"], dtype=np.float64)
    support = np.zeros(num_classes, dtype=np.int64)
    for truth_boxes in targets:
        crowd = truth_boxes.iscrowd if truth_boxes.iscrowd is not None else np.zeros(len(truth_boxes), bool)
        support += np.bincount(truth_boxes.labels[~crowd], minlength=num_classes)[:num_classes]
    ap = [_mean(precision[:, :, k, 0, -1]) for k in range(num_classes)]
    ap_50 = [_mean(precision[0, :, k, 0, -1]) for k in range(num_classes)]
    curves: dict[str, list[float] | None] = {}
    for k, name in enumerate(names):
        curve = precision[0, :, k, 0, -1]
        curves[name] = None if (curve <= -1).all() else [round(float(v), CURVE_DECIMALS) for v in curve]
    return {
        "task": "detection",
        "applicable": True,
        "num_images": len(targets),
        "num_classes": num_classes,
        "class_names": names,
        "num_targets": int(support.sum()),
        "num_detections": int(sum(len(d) for d in predictions)),
        "map": stats[0],
        "map_50": stats[1],
        "map_75": stats[2],
        "map_small": stats[3],
        "map_medium": stats[4],
        "map_large": stats[5],
        "mar_100": stats[8],
        "per_class": {"ap": ap, "ap_50": ap_50, "support": support.tolist()},
        "pr_curves": {"iou": 0.5, "recall": RECALL_POINTS, "precision": curves},
        "reference": reference,
    }


def segmentation_metrics(
    predictions: np.ndarray, targets: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Semantic segmentation quality of ``(N, H, W)`` class maps against ``(N, H, W)`` targets.

    Target pixels equal to ``IGNORE_INDEX`` (255) are left out. The confusion matrix has true classes in rows
    and predicted classes in columns. Per class: ``iou`` = TP / (TP + FP + FN), None for a class absent
    from both targets and predictions; ``accuracy`` = TP / (true pixels of the class), None for a class
    absent from the targets; ``support`` = true pixels. ``miou`` averages the classes whose IoU is defined
    (present in targets or predictions), ``mean_accuracy`` the classes present in the targets,
    ``pixel_accuracy`` = correct pixels / counted pixels.

    Raises UsageError when the shapes differ, a value is not a class index, or no pixel is left to count.
    """
    names = [str(n) for n in class_names]
    num_classes = len(names)
    pred = np.asarray(predictions)
    true = np.asarray(targets)
    if pred.shape != true.shape or true.ndim != 3:
        raise UsageError(
            f"segmentation metrics: predictions {tuple(pred.shape)} and targets {tuple(true.shape)} must be "
            "(N, H, W) class maps of the same size"
        )
    if pred.dtype.kind not in "iu" or true.dtype.kind not in "iu":
        raise UsageError(
            f"segmentation metrics: class maps must be integers, got {pred.dtype} predictions and "
            f"{true.dtype} targets"
        )
    if num_classes < 1 or num_classes >= IGNORE_INDEX:
        raise UsageError(f"segmentation metrics: need 1 to {IGNORE_INDEX - 1} classes, got {num_classes}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for n in range(true.shape[0]):  # one image at a time keeps the temporaries small
        t = true[n].reshape(-1).astype(np.int64)
        p = pred[n].reshape(-1).astype(np.int64)
        keep = t != IGNORE_INDEX
        t, p = t[keep], p[keep]
        for what, values in (("target", t), ("prediction", p)):
            bad = (values < 0) | (values >= num_classes)
            if bad.any():
                raise UsageError(
                    f"segmentation metrics: {what} {n} has class {int(values[bad][0])}, outside the "
                    f"{num_classes} classes (and not the ignore value {IGNORE_INDEX})"
                )
        matrix += np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)
    total = int(matrix.sum())
    if total == 0:
        raise UsageError(f"segmentation metrics: every target pixel is the ignore value {IGNORE_INDEX}")
    tp = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    union = support + predicted - tp
    iou = [float(tp[k] / union[k]) if union[k] else None for k in range(num_classes)]
    accuracy = [float(tp[k] / support[k]) if support[k] else None for k in range(num_classes)]
    defined_iou = [v for v in iou if v is not None]
    defined_acc = [v for v in accuracy if v is not None]
    return {
        "task": "segmentation",
        "applicable": True,
        "num_images": int(true.shape[0]),
        "num_classes": num_classes,
        "class_names": names,
        "miou": float(np.mean(defined_iou)),
        "pixel_accuracy": float(tp.sum() / total),
        "mean_accuracy": float(np.mean(defined_acc)),
        "per_class": {"iou": iou, "accuracy": accuracy, "support": support.tolist()},
        "confusion_matrix": matrix.tolist(),
        "ignore_index": IGNORE_INDEX,
    }
