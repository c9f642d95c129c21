"""What the detection and segmentation datasets (``coco``, ``voc``, ``voc-segmentation``) share.

A subclass reads its annotation files into :class:`Sample` records (:meth:`VisionDataset._load`); this base
draws seeded splits, decodes the images of a split when it is first asked for, and scales the targets:

- every image is fitted into a square of ``image_size`` pixels. ``resize = "letterbox"`` (the default) keeps
  the aspect ratio: the longer side becomes ``image_size`` (Pillow, bilinear) and the image is placed in the
  top-left corner of a black square (padding right and bottom only, so a box is scaled and never shifted).
  ``resize = "stretch"`` scales width and height separately to fill the square;
- boxes are scaled by the same factors: a split's :class:`~edgeai_core.tasks.BoxTargets` are ``xyxy``
  pixels of the image *as fed* (``image_size`` square), with the image size (``image_size``, ``image_size``);
- masks are resized with the nearest neighbour, and the letterbox padding is the ignore value 255;
- the float32 inputs are the uint8 pixels / 255, then ``mean``/``std``, in ``layout`` (as for classification).

:meth:`VisionDataset.preview` returns the uint8 image exactly as fed (before normalization).
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.api import (
    IGNORE_INDEX,
    PLACEHOLDER_INPUT,
    SPLITS,
    BoxTargets,
    Context,
    Dataset,
    DatasetError,
    ParameterError,
    Split,
    UsageError,
    box_targets_array,
)
from edgeai_datasets.splits import stratified_split

if TYPE_CHECKING:
    from edgeai_core.api import IOSpec, Registration

log = logging.getLogger(__name__)

RESIZE_MODES = ("letterbox", "stretch")


@dataclass(frozen=True, eq=False)
class Sample:
    """One image and its objects (or mask), in the pixels of the original file.

    ``where``: how messages name the item (the annotation file and the image). ``size``: (width, height) the
    annotations declare; the decoded file must have it.
    """

    image: Path
    where: str
    size: tuple[int, int]
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    crowd: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    mask: Path | None = None
    image_id: int | None = None


def fitted_size(width: int, height: int, size: int, resize: str) -> tuple[int, int]:
    """(width, height) of the resized picture inside the ``size`` square."""
    if resize == "stretch":
        return size, size
    scale = size / max(width, height)
    return max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale)))


def scale_boxes(sample: Sample, size: int, resize: str) -> BoxTargets:
    """The sample's boxes in the pixels of the fed ``size`` x ``size`` image."""
    width, height = sample.size
    new_w, new_h = fitted_size(width, height, size, resize)
    factors = np.array([new_w / width, new_h / height] * 2)
    return BoxTargets(
        sample.boxes * factors, sample.labels, (size, size), iscrowd=sample.crowd, image_id=sample.image_id
    )


def load_image(sample: Sample, size: int, resize: str) -> np.ndarray:
    """uint8 ``(size, size, 3)`` RGB as fed; UsageError when the file is unreadable or not the declared size."""
    from PIL import Image

    try:
        with Image.open(sample.image) as image:
            if image.size != sample.size:
                raise UsageError(
                    f"{sample.where}: the image file {sample.image.name} is {image.size[0]}x{image.size[1]} "
                    f"but the annotations say {sample.size[0]}x{sample.size[1]}"
                )
            picture = image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UsageError(f"{sample.where}: cannot read {sample.image} ({exc})") from None
    new_w, new_h = fitted_size(*sample.size, size, resize)
    if picture.size != (new_w, new_h):
        picture = picture.resize((new_w, new_h), Image.Resampling.BILINEAR)
    out = np.zeros((size, size, 3), np.uint8)
    out[:new_h, :new_w] = np.asarray(picture, dtype=np.uint8)
    return out


def load_mask(sample: Sample, size: int, resize: str, num_classes: int) -> np.ndarray:
    """uint8 ``(size, size)`` class indices (nearest neighbour; padding = 255); UsageError naming the file."""
    from PIL import Image

    assert sample.mask is not None
    path = sample.mask
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise UsageError(
                    f"{path}: the mask is a {image.mode} image; it must be a palette (P) or grayscale (L) PNG "
                    "whose pixel values are class indices"
                )
            if image.size != sample.size:
                raise UsageError(
                    f"{path}: the mask is {image.size[0]}x{image.size[1]} but its image {sample.image.name} is "
                    f"{sample.size[0]}x{sample.size[1]}"
                )
            values = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UsageError(f"{path}: cannot read the mask ({exc})") from None
    bad = (values >= num_classes) & (values != IGNORE_INDEX)
    if bad.any():
        y, x = (int(v) for v in np.argwhere(bad)[0])
        raise UsageError(
            f"{path}: pixel ({x}, {y}) has class {int(values[y, x])}, outside the {num_classes} classes "
            f"(and not the ignore value {IGNORE_INDEX})"
        )
    new_w, new_h = fitted_size(*sample.size, size, resize)
    if values.shape != (new_h, new_w):
        values = np.asarray(
            Image.fromarray(values, "L").resize((new_w, new_h), Image.Resampling.NEAREST), dtype=np.uint8
        )
    out = np.full((size, size), IGNORE_INDEX, np.uint8)
    out[:new_h, :new_w] = values
    return out


class VisionDataset(Dataset):
    """Detection or segmentation samples with the parameters of ``vision_params`` (see the module doc)."""

    def __init__(
        self, *, record: Registration, params: Mapping[str, Any], context: Context | None = None
    ) -> None:
        super().__init__(record=record, params=params, context=context)
        p = self.params
        held_out = p["validation_fraction"] + p["test_fraction"]
        if held_out >= 1.0:
            raise ParameterError(
                "dataset.validation_fraction",
                f"validation_fraction + test_fraction must stay below 1 to leave training samples, "
                f"got {held_out:g}",
            )
        for key in ("mean", "std"):
            values = p[key]
            if values is not None and len(values) not in (1, 3):
                raise ParameterError(
                    f"dataset.{key}", f"needs 1 value or 3 (one per channel), got {len(values)}: {values}"
                )
        if p["std"] is not None and any(v <= 0 for v in p["std"]):
            raise ParameterError("dataset.std", f"every value must be > 0, got {p['std']}")
        self._samples: list[Sample] | None = None
        self._names: list[str] = []
        self._indices: dict[str, np.ndarray] = {}
        self._splits: dict[str, Split] = {}
        self._input_name = PLACEHOLDER_INPUT

    # -- what subclasses implement ------------------------------------------------------------------

    @abc.abstractmethod
    def _load(self) -> tuple[list[Sample], list[str], dict[str, list[int]] | None]:
        """Samples in a fixed order, the class names, and official ``train``/``test`` positions or None."""

    # -- Dataset interface --------------------------------------------------------------------------

    def prepare(self) -> None:
        if self._samples is not None:
            return
        samples, names, official = self._load()
        if not samples:
            raise DatasetError(f"{self.name}: the dataset holds no images")
        self._indices = self._draw(len(samples), official)
        self._samples, self._names, self._splits = samples, list(names), {}
        log.info(
            "%s: %d classes, %s",
            self.name,
            len(names),
            ", ".join(f"{k} {len(v)}" for k, v in self._indices.items()),
        )

    @property
    def class_names(self) -> list[str]:
        self._prepared()
        return list(self._names)

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}'; use {', '.join(SPLITS)}")
        if name not in self._splits:
            self._prepared()
            indices = self._indices[name]
            inputs = self._inputs(indices, name)
            self._splits[name] = Split({self._input_name: inputs}, self._targets(indices))
        return self._splits[name]

    def split_indices(self, name: str) -> np.ndarray:
        """Positions of the split's images in the dataset's fixed sample order."""
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}'; use {', '.join(SPLITS)}")
        self._prepared()
        return self._indices[name].copy()

    def use_io_spec(self, io: IOSpec) -> None:
        name = io.inputs[0].name if len(io.inputs) == 1 else PLACEHOLDER_INPUT
        if name != self._input_name:
            self._input_name = name
            self._splits = {k: Split({name: v.input}, v.targets) for k, v in self._splits.items()}

    def calibration_samples(self, count: int) -> dict[str, np.ndarray]:
        """The core's seeded subset of the train split, decoding only those images."""
        train = self.split_indices("train")
        rng = np.random.default_rng(self.context.seed)
        pick = np.sort(rng.permutation(len(train))[: min(count, len(train))])
        if "train" in self._splits:
            return {self._input_name: np.asarray(self._splits["train"].input[pick])}
        return {self._input_name: self._inputs(train[pick], "calibration")}

    def preview(self, split: str, index: int) -> np.ndarray:
        """Image ``index`` of ``split`` as uint8 ``(image_size, image_size, 3)`` RGB, as fed (not normalized)."""
        sample = self._prepared()[int(self.split_indices(split)[index])]
        return load_image(sample, self.params["image_size"], self.params["resize"])

    def versions(self) -> dict[str, str]:
        import PIL

        return {"numpy": np.__version__, "pillow": PIL.__version__}

    # -- machinery ----------------------------------------------------------------------------------

    def _prepared(self) -> list[Sample]:
        if self._samples is None:
            self.prepare()
        assert self._samples is not None
        return self._samples

    def _draw(self, count: int, official: dict[str, list[int]] | None) -> dict[str, np.ndarray]:
        """Seeded splits: ``limit`` images drawn first, then the fractions (or the official train/test)."""
        rng = np.random.default_rng(self.context.seed)
        p = self.params
        pool = np.arange(count, dtype=np.int64)
        if p["limit"] is not None and p["limit"] < count:
            pool = np.sort(rng.permutation(count)[: p["limit"]])
        if official is None:
            test, validation, train = stratified_split(
                np.zeros(len(pool), np.int64), [p["test_fraction"], p["validation_fraction"]], rng
            )
            return {"train": pool[train], "validation": pool[validation], "test": pool[test]}
        chosen = set(pool.tolist())
        train_pool = np.asarray([i for i in official["train"] if i in chosen], np.int64)
        test_pool = np.asarray([i for i in official["test"] if i in chosen], np.int64)
        validation, train = stratified_split(
            np.zeros(len(train_pool), np.int64), [p["validation_fraction"]], rng
        )
        return {
            "train": train_pool[train],
            "validation": train_pool[validation],
            "test": rng.permutation(test_pool),
        }

    def _inputs(self, indices: np.ndarray, what: str) -> np.ndarray:
        from edgeai_datasets.preprocess import finish

        p = self.params
        samples = self._prepared()
        size, resize = p["image_size"], p["resize"]
        chosen = [samples[int(i)] for i in indices]
        images = np.empty((len(chosen), size, size, 3), np.uint8)
        workers = max(1, min(8, os.cpu_count() or 1, len(chosen)))
        if workers == 1:
            for i, sample in enumerate(chosen):
                images[i] = load_image(sample, size, resize)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for i, image in enumerate(pool.map(lambda s: load_image(s, size, resize), chosen)):
                    images[i] = image
        self.context.progress.update(len(chosen), len(chosen), f"{what} images")
        return finish(images, p["mean"], p["std"], p["layout"])

    def _targets(self, indices: np.ndarray) -> np.ndarray:
        p = self.params
        samples = self._prepared()
        if self.task == "segmentation":
            masks = np.empty((len(indices), p["image_size"], p["image_size"]), np.uint8)
            for i, index in enumerate(indices):
                masks[i] = load_mask(samples[int(index)], p["image_size"], p["resize"], len(self._names))
            return masks
        return box_targets_array(
            [scale_boxes(samples[int(i)], p["image_size"], p["resize"]) for i in indices]
        )

    def evaluate(self, outputs: Any, targets: np.ndarray) -> dict[str, Any]:
        """COCO-style detection metrics or mIoU (:mod:`edgeai_datasets.vision_metrics`) with the class names."""
        from edgeai_datasets.vision_metrics import detection_metrics, segmentation_metrics

        if self.task == "segmentation":
            return segmentation_metrics(np.asarray(outputs), np.asarray(targets), self.class_names)
        return detection_metrics(list(outputs), list(targets), self.class_names)


def check_box(
    box: Sequence[float], width: int, height: int, where: str, tolerance: float = 1.0
) -> tuple[float, float, float, float] | str:
    """``xyxy`` clipped to the image, or the problem with it as text (for the caller's one-line message)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    text = f"[{x0:g}, {y0:g}, {x1:g}, {y1:g}]"
    if not all(np.isfinite([x0, y0, x1, y1])) or x1 <= x0 or y1 <= y0:
        return f"box {text} is empty or inverted"
    if x0 < -tolerance or y0 < -tolerance or x1 > width + tolerance or y1 > height + tolerance:
        return f"box {text} lies outside the {width}x{height} image"
    return max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
