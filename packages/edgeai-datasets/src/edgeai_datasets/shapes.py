"""``shapes`` and ``shapes-segmentation``: seeded images of rectangles, ellipses and triangles.

Everything runs offline with real geometry: each image (``image_size`` square, RGB) has a noisy
two-colour gradient background and 1..``max_objects`` shapes of random colour and size
(``min_size``..``max_size`` pixels) that never overlap, so every box and every mask pixel is exact:

- a box is the tight pixel extent of the shape as drawn, ``[x0, y0, x1 + 1, y1 + 1]`` in xyxy pixels;
- a mask holds 0 for background and 1 + the shape's class for its pixels (``shapes-segmentation``).

The same seed gives the same images, boxes and masks on every machine (numpy's PCG64 and integer
geometry only). Splits are fixed fractions of the generated images in order (train first).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from edgeai_core.api import SPLITS, BoxTargets, Dataset, DatasetError, Split, box_targets_array

SHAPE_CLASSES = ("rectangle", "ellipse", "triangle")
#: vivid colours the shapes are painted in (a shape's colour says nothing about its class)
PALETTE = np.array(
    [
        (230, 57, 70),
        (241, 196, 15),
        (46, 204, 113),
        (52, 152, 219),
        (155, 89, 182),
        (236, 240, 241),
        (230, 126, 34),
        (26, 188, 156),
    ],
    dtype=np.float32,
)
#: tries to place a shape without touching the others before the image keeps fewer shapes
_PLACEMENT_TRIES = 50


def shape_mask(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A boolean (h, w) mask of one shape whose longer side is ``size`` pixels, drawn at random proportions."""
    aspect = float(rng.uniform(0.6, 1.0))
    w, h = (
        (size, max(3, round(size * aspect))) if rng.random() < 0.5 else (max(3, round(size * aspect)), size)
    )
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    if kind == 0:  # rectangle
        return np.ones((h, w), dtype=bool)
    if kind == 1:  # ellipse inscribed in the box
        return ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2 <= 1.0
    # an upright or upside-down isosceles triangle filling the box
    depth = yy / h if rng.random() < 0.5 else 1.0 - yy / h
    return np.abs(xx - w / 2) <= depth * w / 2


class Shapes(Dataset):
    """Seeded rectangles, ellipses and triangles with exact boxes (``task = detection``) or masks."""

    @cached_property
    def _data(self) -> tuple[np.ndarray, list[BoxTargets], np.ndarray]:
        return generate(
            samples=self.params["samples"],
            image_size=self.params["image_size"],
            max_objects=self.params["max_objects"],
            min_size=self.params["min_size"],
            max_size=self.params["max_size"],
            noise=self.params["noise"],
            seed=self.context.seed if self.params["seed"] is None else self.params["seed"],
        )

    def prepare(self) -> None:
        if self.params["min_size"] > self.params["max_size"]:
            raise DatasetError(
                f"dataset {self.name}: min_size {self.params['min_size']} is larger than max_size "
                f"{self.params['max_size']}; lower min_size or raise max_size"
            )
        if self.params["max_size"] > self.params["image_size"]:
            raise DatasetError(
                f"dataset {self.name}: max_size {self.params['max_size']} does not fit a "
                f"{self.params['image_size']}-pixel image; lower max_size or raise image_size"
            )
        self._data  # noqa: B018 (generate now, so errors and time belong to the dataset stage)

    @property
    def class_names(self) -> list[str]:
        return list(SHAPE_CLASSES)

    def _range(self, name: str) -> range:
        if name not in SPLITS:
            raise DatasetError(
                f"dataset {self.name} has no split {name!r}; choose one of {', '.join(SPLITS)}"
            )
        n = self.params["samples"]
        test = max(1, round(n * self.params["test_fraction"]))
        validation = max(1, round(n * self.params["validation_fraction"]))
        train = n - test - validation
        if train < 1:
            raise DatasetError(f"dataset {self.name}: {n} samples leave no training images; raise samples")
        bounds = {
            "train": (0, train),
            "validation": (train, train + validation),
            "test": (train + validation, n),
        }
        return range(*bounds[name])

    def _inputs(self, index: range) -> np.ndarray:
        images = self._data[0][index.start : index.stop].astype(np.float32) / 255.0
        return (
            images if self.params["layout"] == "NHWC" else np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        )

    def split(self, name: str) -> Split:
        index = self._range(name)
        return Split(self._inputs(index), box_targets_array(self._data[1][index.start : index.stop]))

    def preview(self, split: str, index: int) -> np.ndarray:
        return self._data[0][self._range(split)[index]]

    def evaluate(self, outputs: Any, targets: np.ndarray) -> dict[str, Any]:
        from edgeai_datasets.vision_metrics import detection_metrics

        return detection_metrics(outputs, list(targets), self.class_names)

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}


class ShapesSegmentation(Shapes):
    """The same images as ``shapes``; targets are per-pixel masks (0 background, 1 + class index)."""

    @property
    def class_names(self) -> list[str]:
        return ["background", *SHAPE_CLASSES]

    def split(self, name: str) -> Split:
        index = self._range(name)
        return Split(self._inputs(index), self._data[2][index.start : index.stop].astype(np.int64))

    def evaluate(self, outputs: Any, targets: np.ndarray) -> dict[str, Any]:
        from edgeai_datasets.vision_metrics import segmentation_metrics

        return segmentation_metrics(np.asarray(outputs), np.asarray(targets), self.class_names)


def generate(
    *, samples: int, image_size: int, max_objects: int, min_size: int, max_size: int, noise: float, seed: int
) -> tuple[np.ndarray, list[BoxTargets], np.ndarray]:
    """``samples`` images (N, S, S, 3) uint8, their box targets and their (N, S, S) uint8 masks."""
    rng = np.random.default_rng(seed)
    s = image_size
    images = np.empty((samples, s, s, 3), dtype=np.uint8)
    masks = np.zeros((samples, s, s), dtype=np.uint8)
    targets: list[BoxTargets] = []
    ramp = np.linspace(0.0, 1.0, s, dtype=np.float32)
    for i in range(samples):
        low, high = rng.uniform(10, 70, 3), rng.uniform(10, 70, 3)
        vertical = rng.random() < 0.5
        t = ramp[:, None, None] if vertical else ramp[None, :, None]
        image = (low + (high - low) * t) * np.ones((s, s, 1), dtype=np.float32)
        occupied = np.zeros((s, s), dtype=bool)
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            kind = int(rng.integers(0, len(SHAPE_CLASSES)))
            size = int(rng.integers(min_size, max_size + 1))
            shape = shape_mask(kind, size, rng)
            h, w = shape.shape
            for _ in range(_PLACEMENT_TRIES):
                y, x = int(rng.integers(0, s - h + 1)), int(rng.integers(0, s - w + 1))
                # one free pixel around every shape: boxes never touch, masks never overlap
                if not occupied[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1].any():
                    break
            else:
                continue
            occupied[y : y + h, x : x + w] |= shape
            colour = PALETTE[int(rng.integers(0, len(PALETTE)))] * float(rng.uniform(0.75, 1.0))
            image[y : y + h, x : x + w][shape] = colour
            masks[i, y : y + h, x : x + w][shape] = kind + 1
            ys, xs = np.nonzero(shape)
            boxes.append([x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1])
            labels.append(kind)
        image += rng.normal(0.0, noise * 255.0, image.shape).astype(np.float32)
        images[i] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        targets.append(
            BoxTargets(
                np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                np.asarray(labels, np.int64),
                (s, s),
                image_id=i,
            )
        )
    return images, targets, masks
