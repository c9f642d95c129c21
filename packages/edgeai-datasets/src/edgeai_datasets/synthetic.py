"""``synthetic``: seeded random inputs shaped like the model's first input, for latency runs without data.

The runner calls :meth:`Synthetic.use_io_spec` once the model is prepared; the dataset then draws every
split (``samples`` inputs each, the split's own seeded stream) with the first input's dtype and per-sample
shape: a dynamic batch axis becomes the sample axis, any other dynamic dimension needs the ``shape``
parameter. Float inputs are standard normal or uniform in ``[low, high)``; integer inputs are uniform
integers in ``[low, high]`` (default: the dtype's full range); bool inputs are fair coin flips. There are no
labels (``has_labels`` is False; targets are zeros), so quality is reported as not applicable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.api import SPLITS, Context, Dataset, DatasetError, ParameterError, Split

if TYPE_CHECKING:
    from edgeai_core.api import IOSpec, Registration


class Synthetic(Dataset):
    """Random inputs for any model; see the module documentation."""

    def __init__(
        self, *, record: Registration, params: Mapping[str, Any], context: Context | None = None
    ) -> None:
        super().__init__(record=record, params=params, context=context)
        low, high = self.params["low"], self.params["high"]
        if low is not None and high is not None and low > high:
            raise ParameterError("dataset.low", f"must not exceed dataset.high ({high:g}), got {low:g}")
        self._dtype = "float32"
        self._input_shape: tuple[Any, ...] | None = None
        self._input_name = "input"
        self._splits: dict[str, Split] = {}

    def prepare(self) -> None:
        """Nothing to load: the inputs are drawn when a split is asked for."""

    def use_io_spec(self, io: IOSpec) -> None:
        """Take the dtype and shape of the model's first input; drop splits drawn for another spec."""
        if not io.inputs:
            raise DatasetError("synthetic: the model declares no inputs, so there is nothing to generate")
        spec = io.inputs[0]
        self._dtype, self._input_shape, self._input_name = spec.dtype, tuple(spec.shape), spec.name
        self._splits = {}
        self._sample_shape()  # fail now, not at the first split, on a dynamic dimension

    def _sample_shape(self) -> tuple[int, ...]:
        given = self.params["shape"]
        if given is not None:
            return tuple(int(d) for d in given)
        if self._input_shape is None:
            raise DatasetError(
                "synthetic: the input shape comes from the model's IO spec, which is not known yet (a model "
                "cannot train on synthetic inputs: load it from a file instead); or set dataset.shape to the "
                "per-sample shape (e.g. --set dataset.shape=[1,8,8])"
            )
        per_sample = self._input_shape[1:]
        for axis, dim in enumerate(per_sample, start=1):
            if not isinstance(dim, int) or dim < 0:
                shown = tuple(d if isinstance(d, int) and d >= 0 else None for d in self._input_shape)
                raise DatasetError(
                    f"synthetic: input '{self._input_name}' has a dynamic dimension {axis} in {shown}; set "
                    "dataset.shape to the per-sample shape without the batch axis "
                    "(e.g. --set dataset.shape=[3,224,224])"
                )
        return tuple(int(d) for d in per_sample)

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}'; use {', '.join(SPLITS)}")
        if name not in self._splits:
            shape = (self.params["samples"], *self._sample_shape())
            rng = np.random.default_rng([self.context.seed, SPLITS.index(name)])
            inputs = self._draw(rng, shape)
            self._splits[name] = Split(inputs, np.zeros(shape[0], dtype=np.int64))
        return self._splits[name]

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        p, dtype = self.params, np.dtype(self._dtype) if self._dtype != "bfloat16" else np.dtype("float32")
        if dtype == np.bool_:
            return rng.integers(0, 2, size=shape).astype(np.bool_)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            low = info.min if p["low"] is None else max(info.min, math.ceil(p["low"]))
            high = info.max if p["high"] is None else min(info.max, math.floor(p["high"]))
            if low > high:
                raise ParameterError(
                    "dataset.low", f"[low, high] holds no {dtype.name} value ({p['low']}, {p['high']})"
                )
            return rng.integers(low, high, size=shape, dtype=dtype, endpoint=True)
        if p["distribution"] == "uniform":
            low = 0.0 if p["low"] is None else p["low"]
            high = 1.0 if p["high"] is None else p["high"]
            return rng.uniform(low, high, size=shape).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)

    @property
    def has_labels(self) -> bool:
        return False

    def evaluate(self, outputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
        return {"task": "any", "applicable": False, "reason": "synthetic inputs have no labels"}

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}
