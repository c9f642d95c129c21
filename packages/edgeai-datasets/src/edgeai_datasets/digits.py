"""``digits``: scikit-learn's bundled handwritten digits, the embedded default dataset (nothing downloaded).

1797 real 8x8 grayscale scans of the digits 0-9 (the UCI optical recognition test set), shipped inside
scikit-learn. Their pixel values are 0..16; they are scaled to uint8 as ``round(v * 255 / 16)`` so they go
through the same Pillow pipeline as every other image dataset (bilinear resize when ``image_size`` is not 8,
then /255): at the default size a pixel ends up within 0.002 of ``v / 16``.

``import sklearn`` takes seconds (it imports much of SciPy) while the data is a 60 kB CSV inside the
scikit-learn package, so the dataset reads that file (``sklearn/datasets/data/digits.csv.gz``) the way
``load_digits`` does, locating it without importing scikit-learn; it falls back to ``load_digits()`` when a
scikit-learn release moves the file.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.metadata
import importlib.util
import logging
from pathlib import Path

import numpy as np

from edgeai_core.api import MissingDependencyError
from edgeai_datasets.base import ImageClassificationDataset, SampleIndex
from edgeai_datasets.preprocess import arrays_to_uint8

log = logging.getLogger(__name__)


def bundled_csv() -> Path | None:
    """Where scikit-learn keeps the digits (``sklearn/datasets/data/digits.csv.gz``), found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("dataset:digits", "scikit-learn", "edgeai-datasets")
    for location in spec.submodule_search_locations:
        csv = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if csv.is_file():
            return csv
    return None


def load_bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """``(images, target)`` exactly as ``sklearn.datasets.load_digits()`` gives them: float64 (1797, 8, 8)
    with values 0..16, and int labels."""
    csv = bundled_csv()
    if csv is not None:
        with gzip.open(csv, "rt", encoding="ascii") as fh:
            data = np.loadtxt(fh, delimiter=",")
        if data.ndim == 2 and data.shape[1] == 65:
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
    log.info("scikit-learn keeps no digits.csv.gz of the known layout; using load_digits()")
    # imported by name: scikit-learn ships no type information, and this is the only call into it
    bunch = importlib.import_module("sklearn.datasets").load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target)


class Digits(ImageClassificationDataset):
    """scikit-learn's ``load_digits``: 10 classes named "0".."9", split train/validation/test by the seed."""

    _images: np.ndarray

    def _load_index(self) -> SampleIndex:
        images, target = load_bundled_digits()
        scaled = np.floor(images * (255.0 / 16.0) + 0.5)
        self._images = np.clip(scaled, 0, 255).astype(np.uint8)
        labels = np.asarray(target, dtype=np.int64)
        return SampleIndex(labels, [str(d) for d in range(10)])

    def _load_images(self, indices: np.ndarray) -> np.ndarray:
        return arrays_to_uint8(self._images[indices], self.params["image_size"], self.params["channels"])

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "scikit-learn": importlib.metadata.version("scikit-learn")}
