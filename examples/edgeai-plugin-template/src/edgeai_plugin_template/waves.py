"""``template-waves``: a generated classification dataset (class k is a sine wave of frequency k + 1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeai_core.api import SPLITS, Dataset, DatasetError, Split


class Waves(Dataset):
    """Seeded noisy sine waves with a random phase, split 60/20/20 with the run's seed."""

    _splits: dict[str, Split]

    def prepare(self) -> None:
        p = self.params
        rng = np.random.default_rng(self.context.seed)
        labels = np.arange(p["samples"]) % p["classes"]
        rng.shuffle(labels)
        t = np.linspace(0.0, 2.0 * np.pi, p["length"], endpoint=False)
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(p["samples"], 1))
        waves = np.sin((labels[:, None] + 1) * t[None, :] + phase)
        waves += rng.normal(0.0, p["noise"], size=waves.shape)
        inputs, targets = waves.astype(np.float32), labels.astype(np.int64)
        n_train, n_val = int(p["samples"] * 0.6), int(p["samples"] * 0.2)
        bounds = {
            "train": (0, n_train),
            "validation": (n_train, n_train + n_val),
            "test": (n_train + n_val, None),
        }
        self._splits = {name: Split(inputs[a:b], targets[a:b]) for name, (a, b) in bounds.items()}

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}'; use {', '.join(SPLITS)}")
        if not hasattr(self, "_splits"):
            self.prepare()
        return self._splits[name]

    @property
    def class_names(self) -> list[str]:
        return [f"{k + 1}-cycles" for k in range(self.params["classes"])]

    def versions(self) -> dict[str, Any]:
        return {"numpy": np.__version__}
