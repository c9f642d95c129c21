"""``gaussian-blobs``: a seeded, generated classification dataset (no files, no download)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeai_core.components import Dataset, Split
from edgeai_core.errors import DatasetError


class GaussianBlobs(Dataset):
    """Isotropic Gaussian clusters around random centres, split 60/20/20 with the run's seed.

    ``separation`` scales the distance between class centres relative to the unit noise, so it sets how
    hard the problem is: the default 1.0 gives a small MLP about 98% on 16 features and 4 classes.
    """

    _splits: dict[str, Split]

    def prepare(self) -> None:
        p = self.params
        rng = np.random.default_rng(self.context.seed)
        classes, features, samples = p["classes"], p["features"], p["samples"]
        if samples < classes * 5:
            raise DatasetError(
                f"dataset.samples: {samples} samples cannot cover {classes} classes; use at least {classes * 5}"
            )
        centres = rng.standard_normal((classes, features)) * p["separation"]
        labels = np.arange(samples) % classes
        rng.shuffle(labels)
        inputs = centres[labels] + rng.standard_normal((samples, features))
        inputs = inputs.astype(np.float32)
        n_train, n_val = int(samples * 0.6), int(samples * 0.2)
        bounds = {
            "train": (0, n_train),
            "validation": (n_train, n_train + n_val),
            "test": (n_train + n_val, samples),
        }
        self._splits = {
            name: Split(inputs[a:b], labels[a:b].astype(np.int64)) for name, (a, b) in bounds.items()
        }

    def split(self, name: str) -> Split:
        if not hasattr(self, "_splits"):
            self.prepare()
        try:
            return self._splits[name]
        except KeyError:
            raise DatasetError(f"unknown split '{name}'; use train, validation or test") from None

    @property
    def class_names(self) -> list[str]:
        return [f"blob{i}" for i in range(self.params["classes"])]

    def versions(self) -> dict[str, Any]:
        return {"numpy": np.__version__}
