"""Quality of detection and segmentation runs: decode the raw outputs, then the dataset's metrics.

The runner hands over here when the dataset's task is ``detection`` or ``segmentation``
(:mod:`edgeai_core.tasks` defines the formats). Every batch goes through the target exactly like a
classification evaluation (pipelined on a remote target); the outputs are decoded with the model's
``postprocess`` declaration, and ``Dataset.evaluate(predictions, targets)`` computes the metrics. A few
images (``evaluation.examples``) are kept with their predictions, as small PNGs inside the results, for the
report to draw when the dataset can render them (``Dataset.preview(split, index)``).
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.contracts import check_outputs
from edgeai_core.document import Quality
from edgeai_core.errors import UsageError
from edgeai_core.tasks import (
    PRIMARY_METRIC,
    BoxTargets,
    Detections,
    PostprocessError,
    check_postprocess,
    decode_predictions,
)

if TYPE_CHECKING:
    from edgeai_core.artifacts import IOSpec
    from edgeai_core.components import Dataset
    from edgeai_core.runner import Runner
    from edgeai_core.targets import Target


def evaluate_task(
    runner: Runner, target: Target, dataset: Dataset, io: IOSpec, spec: Mapping[str, Any] | None
) -> Quality:
    """Evaluate ``dataset``'s configured split on ``target``; see the module docstring."""
    from edgeai_core.runner import _infer_all, _static_batch, eval_batches

    task = dataset.task
    where = f"model {runner.plan.model.record.name}"
    full = check_postprocess(task, spec, io, where)
    cfg = runner.plan.config.evaluation
    split = runner._split(dataset, cfg["split"], io)
    total = min(cfg["limit"] or len(split), len(split))
    static = _static_batch(io)
    batch = cfg["batch_size"] or static or 32
    arrays = split.arrays(io, f"dataset {dataset.name}")
    targets = split.targets[:total]
    batches, counts = eval_batches(arrays, total, batch, static)
    record = runner.plan.runtime.record
    detections: list[Detections] = []
    masks: list[np.ndarray] = []
    done = 0
    for x, n, result in zip(batches, counts, _infer_all(target, batches), strict=True):
        outputs = [np.asarray(o)[:n] for o in check_outputs(record, result, io, len(x[0]))]
        size = _input_size(task, targets, done, x[0])
        try:
            decoded = decode_predictions(task, full, outputs, size)
        except PostprocessError as exc:
            raise PostprocessError(f"{where}: {exc}") from exc
        if task == "detection":
            detections.extend(decoded)
        else:
            masks.append(np.asarray(decoded))
        done += n
        runner.progress.update(done, total, "images")
    if task == "detection":
        predictions: Any = detections
    else:
        predictions = np.concatenate(masks) if masks else np.zeros((0, 0, 0), dtype=np.int64)
        if predictions.shape != tuple(targets.shape):
            raise UsageError(
                f"{where}: the segmentation output decodes to masks {tuple(predictions.shape)}, but the "
                f"dataset's masks are {tuple(targets.shape)}; the model must predict one class per input pixel"
            )
    metrics = dict(dataset.evaluate(predictions, targets))
    if metrics.get("applicable", True):
        metrics.setdefault("primary", PRIMARY_METRIC[task])
        metrics["postprocess"] = {k: v for k, v in full.items()}
        examples = _examples(dataset, cfg, predictions, targets)
        if examples:
            metrics["examples"] = examples
    return Quality(metrics, cfg["split"])


def _input_size(task: str, targets: np.ndarray, index: int, first: np.ndarray) -> tuple[int, int]:
    """(height, width) of the images in this batch: the targets say it (boxes are in those pixels)."""
    if task == "detection" and len(targets) > index and isinstance(targets[index], BoxTargets):
        return targets[index].image_size
    if task == "segmentation" and targets.ndim == 3:
        return int(targets.shape[1]), int(targets.shape[2])
    shape = first.shape
    return (int(shape[-2]), int(shape[-1])) if len(shape) >= 3 else (1, 1)


def _examples(dataset: Dataset, cfg: Mapping[str, Any], predictions: Any, targets: np.ndarray) -> list[Any]:
    """The first ``evaluation.examples`` images with their true and predicted objects or masks."""
    count = min(int(cfg.get("examples", 4) or 0), len(targets))
    examples: list[Any] = []
    for index in range(count):
        shown = dataset.preview(cfg["split"], index)
        if shown is None:
            return []
        image = np.asarray(shown)
        item: dict[str, Any] = {"index": index, "image_png": png_base64(image)}
        if isinstance(predictions, list):
            item["truth"] = targets[index].to_json()
            item["predicted"] = predictions[index].to_json(limit=50)
        else:
            item["truth_png"] = png_base64(np.asarray(targets[index], dtype=np.uint8))
            item["predicted_png"] = png_base64(np.asarray(predictions[index], dtype=np.uint8))
        examples.append(item)
    return examples


def png_base64(image: np.ndarray) -> str:
    """``image`` ((H, W) grey or class indices, or (H, W, 3) RGB, uint8) as a base64 PNG, without Pillow."""
    pixels = np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
    if pixels.ndim == 2:
        colour = 0
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour = 2
    else:
        raise ValueError(f"png_base64 takes (H, W) or (H, W, 3) images, got {pixels.shape}")
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode("ascii")
