"""Training the detector and the segmenter: targets, losses, the epoch loop and quick validation metrics.

The detector learns CenterNet's targets: per class a Gaussian bump at every object's centre cell on the
stride-4 grid (the focal loss of CornerNet/CenterNet on the heatmap logits), and at the centre cells the box
width/height in input pixels and the centre's offset inside its cell (L1). The segmenter learns per-pixel
cross-entropy. Both use the shared seeded Adam set-up and :class:`~edgeai_core.api.EpochBook` (the best
validation epoch's weights are kept): the validation number is mAP@.5 for the detector and mIoU for the
segmenter, computed here in numpy (a quick all-point AP; the reported metrics come from the dataset plugin's
pycocotools-based evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgeai_core.api import BoxTargets, EpochBook, TrainSettings, check_postprocess, decode_predictions
from edgeai_torch.training import run_epochs

#: the detector's declared postprocessing: heatmap, size and offset outputs, decoded outside the graph
DETECTOR_POSTPROCESS: dict[str, Any] = {
    "kind": "centernet",
    "heatmap": 0,
    "size": 1,
    "offset": 2,
    "stride": 4,
}
SEGMENTER_POSTPROCESS: dict[str, Any] = {"kind": "segmentation", "output": 0}
#: weight of the size loss (pixels are larger numbers than the heatmap's focal loss)
SIZE_WEIGHT = 0.1
#: a Gaussian's standard deviation in cells per cell of object size (at least MIN_SIGMA)
SIGMA_PER_CELL = 0.25
MIN_SIGMA = 0.5


def detector_targets(
    targets: Sequence[BoxTargets], classes: int, image_size: int, stride: int
) -> dict[str, np.ndarray]:
    """CenterNet's dense training targets for each image (heatmap, size, offset, centre mask)."""
    n, side = len(targets), image_size // stride
    heat = np.zeros((n, classes, side, side), dtype=np.float32)
    size = np.zeros((n, 2, side, side), dtype=np.float32)
    offset = np.zeros((n, 2, side, side), dtype=np.float32)
    mask = np.zeros((n, 1, side, side), dtype=np.float32)
    grid = np.arange(side, dtype=np.float32)
    for i, item in enumerate(targets):
        for box, label in zip(item.boxes, item.labels, strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
            ix, iy = min(int(cx), side - 1), min(int(cy), side - 1)
            sx = max(MIN_SIGMA, SIGMA_PER_CELL * (x1 - x0) / stride)
            sy = max(MIN_SIGMA, SIGMA_PER_CELL * (y1 - y0) / stride)
            bump = np.exp(
                -((grid[None, :] - ix) ** 2) / (2 * sx * sx) - ((grid[:, None] - iy) ** 2) / (2 * sy * sy)
            )
            heat[i, int(label)] = np.maximum(heat[i, int(label)], bump)
            heat[i, int(label), iy, ix] = 1.0
            size[i, :, iy, ix] = (x1 - x0, y1 - y0)
            offset[i, :, iy, ix] = (cx - ix, cy - iy)
            mask[i, 0, iy, ix] = 1.0
    return {"heat": heat, "size": size, "offset": offset, "mask": mask}


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), normalised by the number of objects."""
    pos = target.eq(1.0).float()
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    pos_loss = (pos * (1 - p) ** 2 * log_p).sum()
    neg_loss = ((1 - pos) * (1 - target) ** 4 * p**2 * log_not_p).sum()
    return -(pos_loss + neg_loss) / pos.sum().clamp(min=1.0)


def detector_loss(module: nn.Module, x: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    logits, size, offset = module.raw(x)
    mask = t["mask"]
    count = mask.sum().clamp(min=1.0)
    size_loss = (torch.abs(size - t["size"]) * mask).sum() / count
    offset_loss = (torch.abs(offset - t["offset"]) * mask).sum() / count
    return focal_loss(logits, t["heat"]) + SIZE_WEIGHT * size_loss + offset_loss


def segmenter_loss(module: nn.Module, x: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    return F.cross_entropy(module(x), t["mask"], weight=_weights(module), ignore_index=255)


@torch.inference_mode()
def predict(module: nn.Module, inputs: np.ndarray, batch: int = 128) -> list[np.ndarray]:
    """Every output of ``module`` in eval mode over ``inputs``, concatenated over batches."""
    was_training = module.training
    module.eval()
    try:
        parts: list[list[np.ndarray]] = []
        for start in range(0, len(inputs), batch):
            out = module(torch.from_numpy(inputs[start : start + batch]))
            outs = out if isinstance(out, (tuple, list)) else (out,)
            parts.append([o.numpy() for o in outs])
        return [np.concatenate(column) for column in zip(*parts, strict=True)]
    finally:
        module.train(was_training)


def average_precision_50(detections: Sequence[Any], targets: Sequence[BoxTargets], classes: int) -> float:
    """Mean over classes of the all-point AP at IoU 0.5 (greedy matching by score): a quick validation metric."""
    aps = []
    for cls in range(classes):
        truth = [t.boxes[t.labels == cls] for t in targets]
        total = sum(len(b) for b in truth)
        if total == 0:
            continue
        found: list[tuple[float, int, np.ndarray]] = []
        for i, d in enumerate(detections):
            keep = d.labels == cls
            found.extend((float(s), i, b) for s, b in zip(d.scores[keep], d.boxes[keep], strict=True))
        found.sort(key=lambda f: -f[0])
        used = [np.zeros(len(b), dtype=bool) for b in truth]
        hits = np.zeros(len(found))
        for k, (_, i, box) in enumerate(found):
            gt = truth[i]
            if not len(gt):
                continue
            ious = _iou(box, gt)
            j = int(np.argmax(ious))
            if ious[j] >= 0.5 and not used[i][j]:
                used[i][j] = True
                hits[k] = 1
        tp = np.cumsum(hits)
        recall = tp / total
        precision = tp / np.arange(1, len(found) + 1)
        envelope = np.maximum.accumulate(np.concatenate([precision, [0.0]])[::-1])[::-1]
        steps = np.diff(np.concatenate([[0.0], recall]))
        aps.append(float(np.sum(steps * envelope[:-1])) if len(found) else 0.0)
    return float(np.mean(aps)) if aps else 0.0


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def mean_iou(predicted: np.ndarray, truth: np.ndarray, classes: int) -> float:
    """Mean over classes present in either map of intersection over union (pixels marked 255 left out)."""
    valid = truth != 255
    ious = []
    for cls in range(classes):
        p, t = (predicted == cls) & valid, (truth == cls) & valid
        union = int(np.count_nonzero(p | t))
        if union:
            ious.append(np.count_nonzero(p & t) / union)
    return float(np.mean(ious)) if ious else 0.0


class _IO:
    """A stand-in IO spec for :func:`check_postprocess` (outputs by name only)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.outputs = [type("Out", (), {"name": n, "shape": None})() for n in names]


def detection_quality(module: nn.Module, inputs: np.ndarray, targets: Sequence[BoxTargets]) -> float | None:
    """The quick mAP@.5 of ``module`` on a split (None when empty)."""
    if len(inputs) == 0:
        return None
    spec = check_postprocess(
        "detection", DETECTOR_POSTPROCESS, _IO(("heatmap", "size", "offset")), "detector"
    )
    outputs = predict(module, inputs)
    size = (int(inputs.shape[2]), int(inputs.shape[3]))
    detections = decode_predictions("detection", spec, outputs, size)
    classes = int(outputs[0].shape[1])
    return average_precision_50(list(detections), targets, classes)


def segmentation_quality(module: nn.Module, inputs: np.ndarray, masks: np.ndarray) -> float | None:
    """The mIoU of ``module`` on a split (None when empty)."""
    if len(inputs) == 0:
        return None
    (logits,) = predict(module, inputs)
    return mean_iou(np.argmax(logits, axis=1), masks, int(logits.shape[1]))


def run_dense_epochs(
    module: nn.Module,
    task: str,
    arrays: dict[str, Any],
    settings: TrainSettings,
    book: EpochBook,
) -> None:
    """Seeded Adam over ``arrays["train"]`` (inputs, dense targets) with the task's loss and validation metric."""
    loss_fn = detector_loss if task == "detection" else segmenter_loss
    x_train = torch.from_numpy(arrays["train"][0])
    dense = {k: torch.from_numpy(v) for k, v in arrays["train_dense"].items()}
    x_val, y_val = arrays["validation"]
    measure = detection_quality if task == "detection" else segmentation_quality
    run_epochs(
        module,
        arrays,
        settings,
        book,
        batch_loss=lambda index: loss_fn(module, x_train[index], {k: v[index] for k, v in dense.items()}),
        validate=lambda: measure(module, x_val, y_val),
    )


def _weights(module: nn.Module) -> torch.Tensor:
    classes = int(module.classifier.out_channels)
    weights = torch.ones(classes)
    weights[0] = BACKGROUND_WEIGHT
    return weights


BACKGROUND_WEIGHT = 0.3
