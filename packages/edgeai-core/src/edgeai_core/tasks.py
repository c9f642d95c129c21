"""Tasks beyond classification: the data formats datasets, models and metrics meet through.

A dataset declares its task in its record (``task = "detection"``). The task decides what a split's
``targets`` hold, how the model's raw outputs are decoded into predictions, and which metrics and report
section apply. Nothing here depends on a framework: the formats are numpy arrays and the decoders are numpy.

Detection
    ``Split.targets`` is a 1-D object array with one :class:`BoxTargets` per image: boxes in absolute
    ``xyxy`` pixels of the image *as fed to the model*, integer labels indexing ``Dataset.class_names``, and
    optional ``iscrowd`` flags. Predictions are one :class:`Detections` per image (boxes in the same pixels,
    scores, labels; any count, including none).
Segmentation
    ``Split.targets`` is an ``(N, H, W)`` integer array of class indices per pixel (:data:`IGNORE_INDEX`
    marks pixels left out of every metric). Predictions are an ``(N, H, W)`` label map of the same size.

How a model's outputs become predictions is data, not code: the artifact's ``metadata["postprocess"]``
(the model step's, carried to later steps) names a decoder and its parameters; :func:`decode_predictions` runs it.
Decoders:

``{"kind": "centernet", "heatmap": 0, "size": 1, "offset": 2, "stride": 4}``
    An anchor-free head: per-class centre heatmaps ``(N, C, h, w)`` (scores in [0, 1], or logits with
    ``"activation": "sigmoid"``), box sizes ``(N, 2, h, w)`` as (width, height) in input pixels, and centre
    offsets ``(N, 2, h, w)`` in cells. Peaks are local maxima over 3x3 cells; the top ``max_detections``
    (default 100) above ``score_threshold`` (default 0.01) are kept. ``"layout": "NHWC"`` for channels-last.
``{"kind": "boxes", "boxes": 0, "scores": 1, "labels": 2}``
    Already decoded, padded to a fixed count: boxes ``(N, K, 4)``, scores ``(N, K)``, labels ``(N, K)``,
    optionally ``"count": 3`` (``(N,)`` valid rows per image). ``"box_format"`` is ``xyxy`` (default),
    ``xywh`` or ``cxcywh``; ``"normalized": true`` scales [0, 1] coordinates by the input size. Rows with a
    score below ``score_threshold`` (default 0.0; padding rows usually score 0) are dropped.
    ``{"kind": "boxes", "packed": 0}`` reads one ``(N, K, 6)`` output of ``x0, y0, x1, y1, score, label``.
``{"kind": "segmentation", "output": 0}``
    Per-pixel class scores ``(N, C, H, W)`` (``"layout": "NHWC"`` for ``(N, H, W, C)``), or labels
    ``(N, H, W)``. This is also what a segmentation model without ``postprocess`` gets.

Every output index may also be the output's name. Outputs must have a fixed per-image size: a graph with
NMS inside whose outputs vary in length is refused by :func:`check_postprocess` with a message saying to
export the padded (``boxes``) layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeai_core.errors import UsageError

#: the tasks core knows formats for; ``any`` is a dataset without a fixed task (synthetic inputs)
TASKS = ("classification", "detection", "segmentation", "any")
#: segmentation target pixels with this value are left out of every metric (the VOC convention)
IGNORE_INDEX = 255
#: the quality metric that stands for a run of each task in summaries and comparisons
PRIMARY_METRIC = {"classification": "accuracy", "detection": "map", "segmentation": "miou"}
#: how each primary metric is written for people
PRIMARY_LABEL = {"accuracy": "accuracy", "map": "mAP@[.5:.95]", "miou": "mIoU"}
DECODERS = ("centernet", "boxes", "segmentation")
BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


class PostprocessError(UsageError):
    """A ``postprocess`` declaration that does not fit the model's outputs (one line, names the field)."""


@dataclass(frozen=True, eq=False)
class BoxTargets:
    """The true objects of one image: ``boxes`` (K, 4) xyxy pixels, ``labels`` (K,), ``iscrowd`` (K,)."""

    boxes: np.ndarray
    labels: np.ndarray
    image_size: tuple[int, int]  # (height, width) of the image as fed to the model
    iscrowd: np.ndarray | None = None
    image_id: int | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(labels) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
        crowd = (
            np.zeros(len(boxes), dtype=bool)
            if self.iscrowd is None
            else np.asarray(self.iscrowd, dtype=bool).reshape(-1)
        )
        if len(crowd) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(crowd)} iscrowd flags")
        height, width = (int(v) for v in self.image_size)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "iscrowd", crowd)
        object.__setattr__(self, "image_size", (height, width))

    def __len__(self) -> int:
        return len(self.boxes)

    def to_json(self) -> dict[str, Any]:
        return {
            "boxes": np.round(self.boxes, 2).tolist(),
            "labels": self.labels.tolist(),
            "image_size": list(self.image_size),
        }


@dataclass(frozen=True, eq=False)
class Detections:
    """What a detector found in one image: ``boxes`` (M, 4) xyxy pixels, ``scores`` (M,), ``labels`` (M,)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        labels = np.asarray(self.labels).reshape(-1)
        if labels.dtype.kind == "f":
            labels = np.round(labels)
        labels = labels.astype(np.int64)
        if not len(boxes) == len(scores) == len(labels):
            raise ValueError(f"{len(boxes)} boxes, {len(scores)} scores and {len(labels)} labels")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.boxes)

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        order = np.argsort(-self.scores, kind="stable")[:limit]
        return {
            "boxes": np.round(self.boxes[order], 2).tolist(),
            "scores": np.round(self.scores[order], 4).tolist(),
            "labels": self.labels[order].tolist(),
        }


def box_targets_array(items: Sequence[BoxTargets]) -> np.ndarray:
    """A 1-D object array of :class:`BoxTargets` (what a detection split's ``targets`` must be)."""
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = item
    return array


def check_box_targets(
    targets: Sequence[BoxTargets] | np.ndarray,
    num_classes: int,
    where: str,
    names: Sequence[str] | None = None,
) -> None:
    """Raise a one-line UsageError for the first box outside its image, inverted, or with an unknown label.

    ``where`` names the file or dataset; ``names`` (one per image, e.g. file names) name the item.
    """
    for i, item in enumerate(targets):
        if not isinstance(item, BoxTargets):
            raise UsageError(f"{where}: target {i} is {type(item).__name__}, expected BoxTargets")
        label = names[i] if names is not None else f"image {i}"
        height, width = item.image_size
        for j, (box, cls) in enumerate(zip(item.boxes, item.labels, strict=True)):
            x0, y0, x1, y1 = (float(v) for v in box)
            text = f"[{x0:g}, {y0:g}, {x1:g}, {y1:g}]"
            if not np.isfinite(box).all() or x1 <= x0 or y1 <= y0:
                raise UsageError(
                    f"{where}: {label}, box {j} {text} is empty or inverted (need x0 < x1, y0 < y1)"
                )
            if x0 < -0.5 or y0 < -0.5 or x1 > width + 0.5 or y1 > height + 0.5:
                raise UsageError(f"{where}: {label}, box {j} {text} lies outside the {width}x{height} image")
            if not 0 <= int(cls) < num_classes:
                raise UsageError(
                    f"{where}: {label}, box {j} has label {int(cls)}, outside the {num_classes} known classes"
                )


def check_masks(targets: np.ndarray, num_classes: int, where: str) -> None:
    """Raise a one-line UsageError when segmentation targets are not (N, H, W) class indices."""
    if targets.ndim != 3 or targets.dtype.kind not in "iu":
        raise UsageError(
            f"{where}: segmentation targets must be an (N, H, W) integer array, got {targets.dtype} "
            f"{tuple(targets.shape)}"
        )
    bad = (targets >= num_classes) & (targets != IGNORE_INDEX) | (targets < 0)
    if bad.any():
        n, y, x = (int(v) for v in np.argwhere(bad)[0])
        raise UsageError(
            f"{where}: mask {n} pixel ({x}, {y}) has class {int(targets[n, y, x])}, outside the {num_classes} "
            f"known classes (and not the ignore value {IGNORE_INDEX})"
        )


# ---------------------------------------------------------------------------------------------- postprocess


def default_postprocess(task: str) -> dict[str, Any] | None:
    """The decoder a model without a ``postprocess`` declaration gets for ``task`` (None: not decodable)."""
    if task == "segmentation":
        return {"kind": "segmentation", "output": 0}
    return None


def check_postprocess(task: str, spec: Mapping[str, Any] | None, io: Any, where: str) -> dict[str, Any]:
    """Validate ``spec`` against the task and the model's IO spec; return it with defaults filled.

    Raises :class:`PostprocessError` naming ``where`` (the model or file), the field and what to do.
    """
    if spec is None:
        default = default_postprocess(task)
        if default is None:
            raise PostprocessError(
                f"{where}: a {task} model needs a postprocess declaration saying how to read its outputs "
                '(e.g. postprocess = {kind = "boxes", boxes = 0, scores = 1, labels = 2}); see the README\'s '
                "'Detection and segmentation' section"
            )
        spec = default
    if not isinstance(spec, Mapping):
        raise PostprocessError(f"{where}: postprocess must be a table, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in DECODERS:
        raise PostprocessError(
            f"{where}: postprocess.kind must be one of {', '.join(DECODERS)}, got {kind!r}"
        )
    wanted = {"detection": ("centernet", "boxes"), "segmentation": ("segmentation",)}.get(task, ())
    if kind not in wanted:
        raise PostprocessError(f"{where}: postprocess.kind {kind!r} does not decode {task} outputs")
    names = [o.name for o in io.outputs]
    full: dict[str, Any] = dict(spec)
    fields = {
        "centernet": ("heatmap", "size", "offset"),
        "boxes": ("packed",) if "packed" in spec else ("boxes", "scores", "labels"),
        "segmentation": ("output",),
    }[kind]
    optional = ("count",) if kind == "boxes" and "count" in spec else ()
    for field in fields + optional:
        if field not in spec and kind == "segmentation":
            full[field] = 0
        full[field] = _output_index(full.get(field), names, f"{where}: postprocess.{field}")
    layout = str(spec.get("layout", "NCHW")).upper()
    if layout not in ("NCHW", "NHWC"):
        raise PostprocessError(
            f"{where}: postprocess.layout must be NCHW or NHWC, got {spec.get('layout')!r}"
        )
    full["layout"] = layout
    if kind == "centernet":
        full.setdefault("stride", 4)
        full.setdefault("score_threshold", 0.01)
        full.setdefault("max_detections", 100)
        full.setdefault("activation", "none")
        if full["activation"] not in ("none", "sigmoid"):
            raise PostprocessError(f"{where}: postprocess.activation must be none or sigmoid")
        for field in ("heatmap", "size", "offset"):
            _need_rank(io.outputs[full[field]], 4, f"{where}: postprocess.{field}")
    elif kind == "boxes":
        full.setdefault("score_threshold", 0.0)
        full.setdefault("normalized", False)
        fmt = full.setdefault("box_format", "xyxy")
        if fmt not in BOX_FORMATS:
            raise PostprocessError(f"{where}: postprocess.box_format must be one of {', '.join(BOX_FORMATS)}")
        for field in fields:
            spec_out = io.outputs[full[field]]
            dims: tuple[Any, ...] = tuple(getattr(spec_out, "shape", None) or ())
            if (len(dims) >= 2 and dims[1] in (None, -1)) or any(isinstance(d, str) for d in dims[1:]):
                raise PostprocessError(
                    f"{where}: output '{spec_out.name}' has a variable detection count {tuple(dims)}; export "
                    "boxes padded to a fixed count (NMS with a fixed max_output_boxes and a count output)"
                )
    return full


def _output_index(value: Any, names: list[str], what: str) -> int:
    if value is None:
        raise PostprocessError(f"{what} is missing: name the model output (index or name)")
    if isinstance(value, bool):
        raise PostprocessError(f"{what} must be an output index or name, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value < max(len(names), 1):
            raise PostprocessError(
                f"{what} = {value}, but the model has {len(names)} output(s): {', '.join(names)}"
            )
        return value
    if isinstance(value, str) and value in names:
        return names.index(value)
    raise PostprocessError(f"{what} = {value!r} is not one of the model's outputs: {', '.join(names)}")


def _need_rank(spec: Any, rank: int, what: str) -> None:
    dims = getattr(spec, "shape", None)
    if dims is not None and len(dims) != rank:
        raise PostprocessError(
            f"{what}: output '{spec.name}' has shape {tuple(dims)}, expected {rank} dimensions"
        )


def decode_predictions(
    task: str, spec: Mapping[str, Any], outputs: Sequence[np.ndarray], input_size: tuple[int, int]
) -> list[Detections] | np.ndarray:
    """Turn a batch's raw ``outputs`` into predictions per :func:`check_postprocess`'s ``spec``.

    ``input_size`` is (height, width) of the model input in pixels (normalized boxes are scaled by it).
    """
    kind = spec["kind"]
    if kind == "centernet":
        return _decode_centernet(spec, outputs)
    if kind == "boxes":
        return _decode_boxes(spec, outputs, input_size)
    return _decode_segmentation(spec, outputs)


def _channels_first(array: np.ndarray, layout: str) -> np.ndarray:
    return np.moveaxis(array, -1, 1) if layout == "NHWC" else array


def _decode_centernet(spec: Mapping[str, Any], outputs: Sequence[np.ndarray]) -> list[Detections]:
    layout = spec["layout"]
    heat = _channels_first(np.asarray(outputs[spec["heatmap"]], dtype=np.float32), layout)
    size = _channels_first(np.asarray(outputs[spec["size"]], dtype=np.float32), layout)
    offset = _channels_first(np.asarray(outputs[spec["offset"]], dtype=np.float32), layout)
    if spec.get("activation") == "sigmoid":
        heat = 1.0 / (1.0 + np.exp(-heat))
    n, _, h, w = heat.shape
    if size.shape[1:] != (2, h, w) or offset.shape[1:] != (2, h, w):
        raise PostprocessError(
            f"centernet outputs disagree: heatmap {heat.shape}, size {size.shape}, offset {offset.shape} "
            "(size and offset need 2 channels on the heatmap's grid)"
        )
    padded = np.pad(heat, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    neighbourhood = np.max(
        np.stack([padded[:, :, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]), axis=0
    )
    peaks = np.where(heat >= neighbourhood, heat, 0.0)
    stride, limit, threshold = (
        float(spec["stride"]),
        int(spec["max_detections"]),
        float(spec["score_threshold"]),
    )
    results = []
    for i in range(n):
        flat = peaks[i].reshape(-1)
        k = min(limit, flat.size)
        top = np.argpartition(-flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
        top = top[flat[top] > threshold]
        top = top[np.argsort(-flat[top], kind="stable")]
        cls, rem = np.divmod(top, h * w)
        ys, xs = np.divmod(rem, w)
        cx = (xs + offset[i, 0, ys, xs]) * stride
        cy = (ys + offset[i, 1, ys, xs]) * stride
        bw, bh = np.maximum(size[i, 0, ys, xs], 0.0), np.maximum(size[i, 1, ys, xs], 0.0)
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        boxes = np.clip(boxes, 0.0, [w * stride, h * stride, w * stride, h * stride])
        results.append(Detections(boxes, flat[top], cls))
    return results


def _decode_boxes(
    spec: Mapping[str, Any], outputs: Sequence[np.ndarray], input_size: tuple[int, int]
) -> list[Detections]:
    if "packed" in spec:
        packed = np.asarray(outputs[spec["packed"]], dtype=np.float64)
        if packed.ndim != 3 or packed.shape[2] != 6:
            raise PostprocessError(f"postprocess.packed: expected (N, K, 6) boxes, got {packed.shape}")
        boxes, scores, labels = packed[:, :, :4], packed[:, :, 4], packed[:, :, 5]
    else:
        boxes = np.asarray(outputs[spec["boxes"]], dtype=np.float64)
        scores = np.asarray(outputs[spec["scores"]], dtype=np.float64)
        labels = np.asarray(outputs[spec["labels"]])
        if boxes.ndim != 3 or boxes.shape[2] != 4:
            raise PostprocessError(f"postprocess.boxes: expected (N, K, 4) boxes, got {boxes.shape}")
        scores = scores.reshape(boxes.shape[:2])
        labels = labels.reshape(boxes.shape[:2])
    count = None
    if "count" in spec:
        count = np.asarray(outputs[spec["count"]]).reshape(-1).astype(np.int64)
    height, width = input_size
    boxes = boxes.copy()
    if spec["normalized"]:
        boxes *= [width, height, width, height]
    fmt = spec["box_format"]
    if fmt == "xywh":
        boxes[..., 2:] += boxes[..., :2]
    elif fmt == "cxcywh":
        centre, half = boxes[..., :2].copy(), boxes[..., 2:] / 2
        boxes[..., :2], boxes[..., 2:] = centre - half, centre + half
    results = []
    for i in range(boxes.shape[0]):
        keep = np.arange(boxes.shape[1]) < (count[i] if count is not None else boxes.shape[1])
        keep &= scores[i] > float(spec["score_threshold"])
        results.append(Detections(boxes[i][keep], scores[i][keep], labels[i][keep]))
    return results


def _decode_segmentation(spec: Mapping[str, Any], outputs: Sequence[np.ndarray]) -> np.ndarray:
    out = np.asarray(outputs[spec["output"]])
    if out.ndim == 3:
        return out.astype(np.int64)
    if out.ndim != 4:
        raise PostprocessError(
            f"segmentation output must be (N, C, H, W) scores or (N, H, W) labels, got {out.shape}"
        )
    return np.argmax(out, axis=3 if spec["layout"] == "NHWC" else 1).astype(np.int64)


def primary_metric(quality: Mapping[str, Any] | None) -> tuple[str, float] | None:
    """(name, value) of the metric that stands for a run's quality, None when there is none."""
    if not quality or not quality.get("applicable"):
        return None
    name = quality.get("primary") or PRIMARY_METRIC.get(str(quality.get("task")))
    value = quality.get(name) if name else None
    return (str(name), float(value)) if isinstance(value, (int, float)) else None


#: the task each decoder serves (a declaration without ``task`` says it through its ``kind``)
DECODER_TASK = {"centernet": "detection", "boxes": "detection", "segmentation": "segmentation"}


def declared_task(
    task: str | None, spec: Mapping[str, Any] | None, dataset_task: str | None, io: Any, where: str
) -> dict[str, Any]:
    """The metadata a user's model file declares: ``{"task": ..., "postprocess": ...}`` (``{}`` for none).

    ``task`` and ``spec`` are the model's ``task`` and ``postprocess`` parameters, ``dataset_task`` the task
    of the dataset it runs on (None without one), ``io`` the file's IO spec and ``where`` names the file.
    Without ``task`` the declaration's ``kind`` says it, else the dataset's task. A detection or
    segmentation model's declaration is checked against its outputs now (:func:`check_postprocess`), so a
    mismatch stops the run at its first stage with one line naming the file, the field and the problem.
    """
    if spec is not None and not isinstance(spec, Mapping):
        raise PostprocessError(f"{where}: postprocess must be a table, got {type(spec).__name__}")
    if task is None and spec is not None:
        task = DECODER_TASK.get(str(spec.get("kind")))
        if task is None:
            check_postprocess("detection", spec, io, where)  # says what kind must be
    if task is None and dataset_task in ("detection", "segmentation"):
        task = dataset_task
    if dataset_task not in (None, "any") and task is not None and task != dataset_task:
        raise PostprocessError(
            f"{where}: the model is declared a {task} model (task/postprocess), but the dataset is a "
            f"{dataset_task} dataset"
        )
    if task is None:
        return {}
    if task not in ("detection", "segmentation"):
        if spec is not None:
            raise PostprocessError(
                f"{where}: postprocess reads detection or segmentation outputs, not {task} ones; drop it"
            )
        return {"task": task}
    check_postprocess(task, spec, io, where)
    declared = dict(spec) if spec is not None else default_postprocess(task)
    return {"task": task, "postprocess": declared}
