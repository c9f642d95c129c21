"""``synthetic``: seeded random inputs shaped like the model's inputs, for latency runs without data.

The runner calls :meth:`Synthetic.use_io_spec` once the model is prepared; the dataset then draws every
split (``samples`` samples each, the split's own seeded stream) for EACH model input, with that input's dtype
and per-sample shape: a dynamic batch axis becomes the sample axis; any other dynamic dimension takes the
per-input ``shape`` (``dataset.inputs.NAME.shape``), the ``shape`` parameter (first input) or the ``dynamic``
size, and the dimensions so fixed are logged and listed in :attr:`Synthetic.fixed`. Float inputs are standard
normal or uniform in ``[low, high)``; integer inputs are uniform integers in ``[low, high]`` (default: the
dtype's full range); bool inputs are fair coin flips. ``low``, ``high``, ``distribution`` and ``shape`` can be
set per input: ``inputs = {scores = {low = 0, high = 1}}`` or ``--set dataset.inputs.scores.low=0``. There
are no labels (``has_labels`` is False; targets are zeros), so quality is reported as not applicable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.api import SPLITS, Context, Dataset, DatasetError, ParameterError, Split

if TYPE_CHECKING:
    from edgeai_core.api import IOSpec, Registration, TensorSpec

log = logging.getLogger(__name__)

#: what ``dataset.inputs.NAME`` may set
INPUT_KEYS = ("low", "high", "distribution", "shape")


class Synthetic(Dataset):
    """Random inputs for any model; see the module documentation."""

    def __init__(
        self, *, record: Registration, params: Mapping[str, Any], context: Context | None = None
    ) -> None:
        super().__init__(record=record, params=params, context=context)
        self._per_input: dict[str, dict[str, Any]] = {}
        for name, table in (self.params.get("inputs") or {}).items():
            where = f"dataset.inputs.{name}"
            if not isinstance(table, Mapping):
                raise ParameterError(where, f"must be a table of {', '.join(INPUT_KEYS)}, got {table!r}")
            unknown = sorted(set(table) - set(INPUT_KEYS))
            if unknown:
                raise ParameterError(f"{where}.{unknown[0]}", f"is not one of {', '.join(INPUT_KEYS)}")
            self._per_input[str(name)] = dict(table)
        self._check_range(self.params["low"], self.params["high"], "dataset")
        for name, table in self._per_input.items():
            self._check_range(table.get("low"), table.get("high"), f"dataset.inputs.{name}")
            if table.get("distribution", "normal") not in ("normal", "uniform"):
                raise ParameterError(f"dataset.inputs.{name}.distribution", "must be normal or uniform")
        self._specs: tuple[TensorSpec, ...] | None = None
        self._splits: dict[str, Split] = {}
        #: input name -> {axis: size} for every dynamic dimension fixed to draw the inputs
        self.fixed: dict[str, dict[int, int]] = {}

    @staticmethod
    def _check_range(low: Any, high: Any, where: str) -> None:
        if low is not None and high is not None and low > high:
            raise ParameterError(f"{where}.low", f"must not exceed {where}.high ({high:g}), got {low:g}")

    def prepare(self) -> None:
        """Nothing to load: the inputs are drawn when a split is asked for."""

    def use_io_spec(self, io: IOSpec) -> None:
        """Take the dtype and shape of every model input; drop splits drawn for another spec."""
        if not io.inputs:
            raise DatasetError("synthetic: the model declares no inputs, so there is nothing to generate")
        names = [spec.name for spec in io.inputs]
        unknown = [name for name in self._per_input if name not in names]
        if unknown:
            raise ParameterError(
                f"dataset.inputs.{unknown[0]}",
                f"the model has no input '{unknown[0]}'; its inputs are {', '.join(names)}",
            )
        self._specs = tuple(io.inputs)
        self._splits = {}
        self.fixed = {}
        for index, spec in enumerate(self._specs):  # fail now, not at the first split, on a dynamic dimension
            self._sample_shape(spec, index)
        if self.fixed:
            log.info("synthetic: %s", self.describe_fixed())
            self.context.progress.done(f"synthetic: {self.describe_fixed()}")

    def describe_fixed(self) -> str:
        """One line saying which dynamic dimensions were fixed to what (empty when none were)."""
        parts = []
        for name, dims in self.fixed.items():
            shown = ", ".join(f"dim {axis} = {size}" for axis, size in sorted(dims.items()))
            parts.append(f"input '{name}' {shown}")
        return "dynamic dimensions fixed: " + "; ".join(parts) if parts else ""

    def input_shapes(self, io: IOSpec) -> dict[str, tuple[int, ...]]:
        """Name -> per-sample shape this dataset gives for ``io`` (checked before anything heavy runs)."""
        self.use_io_spec(io)
        assert self._specs is not None
        return {spec.name: self._sample_shape(spec, i) for i, spec in enumerate(self._specs)}

    def _sample_shape(self, spec: TensorSpec | None, index: int) -> tuple[int, ...]:
        table = self._per_input.get(spec.name, {}) if spec is not None else {}
        given = table.get("shape", self.params["shape"] if index == 0 else None)
        if given is not None:
            shape = tuple(int(d) for d in given)
            if spec is not None:
                fixed = {
                    axis: size
                    for axis, (dim, size) in enumerate(zip(spec.shape[1:], shape, strict=False), start=1)
                    if not isinstance(dim, int) or dim < 0
                }
                if fixed:
                    self.fixed[spec.name] = fixed
            return shape
        if spec is None:
            raise DatasetError(
                "synthetic: the input shape comes from the model's IO spec, which is not known yet (a model "
                "cannot train on synthetic inputs: load it from a file instead); or set dataset.shape to the "
                "per-sample shape (e.g. --set dataset.shape=[1,8,8])"
            )
        sizes: list[int] = []
        fixed = {}
        for axis, dim in enumerate(spec.shape[1:], start=1):
            if isinstance(dim, int) and dim >= 0:
                sizes.append(dim)
                continue
            if self.params["dynamic"] is None:
                shown = tuple(d if isinstance(d, int) and d >= 0 else None for d in spec.shape)
                raise DatasetError(
                    f"synthetic: input '{spec.name}' has a dynamic dimension {axis} in {shown}; set "
                    f"dataset.shape (or dataset.inputs.{spec.name}.shape) to the per-sample shape without the "
                    "batch axis (e.g. --set dataset.shape=[3,224,224]), or dataset.dynamic to one size for "
                    "every dynamic dimension"
                )
            sizes.append(int(self.params["dynamic"]))
            fixed[axis] = int(self.params["dynamic"])
        if fixed:
            self.fixed[spec.name] = fixed
        return tuple(sizes)

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}'; use {', '.join(SPLITS)}")
        if name not in self._splits:
            samples = self.params["samples"]
            rng = np.random.default_rng([self.context.seed, SPLITS.index(name)])
            if self._specs is None:
                shape = (samples, *self._sample_shape(None, 0))
                inputs = {"input": self._draw(rng, shape, "float32", {}, "dataset")}
            else:
                inputs = {}
                for index, spec in enumerate(self._specs):
                    shape = (samples, *self._sample_shape(spec, index))
                    table = self._per_input.get(spec.name, {})
                    where = f"dataset.inputs.{spec.name}" if table else "dataset"
                    inputs[spec.name] = self._draw(rng, shape, spec.dtype, table, where)
            self._splits[name] = Split(inputs, np.zeros(samples, dtype=np.int64))
        return self._splits[name]

    def _draw(
        self,
        rng: np.random.Generator,
        shape: tuple[int, ...],
        dtype_name: str,
        table: Mapping[str, Any],
        where: str,
    ) -> np.ndarray:
        """Per-input ``low``/``high`` make float inputs uniform (unless that input's distribution says)."""
        p = {key: table.get(key, self.params[key]) for key in ("low", "high", "distribution")}
        if "distribution" not in table and ("low" in table or "high" in table):
            p["distribution"] = "uniform"
        dtype = np.dtype(dtype_name) if dtype_name != "bfloat16" else np.dtype("float32")
        if dtype == np.bool_:
            return rng.integers(0, 2, size=shape).astype(np.bool_)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            low = info.min if p["low"] is None else max(info.min, math.ceil(p["low"]))
            high = info.max if p["high"] is None else min(info.max, math.floor(p["high"]))
            if low > high:
                raise ParameterError(
                    f"{where}.low", f"[low, high] holds no {dtype.name} value ({p['low']}, {p['high']})"
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
