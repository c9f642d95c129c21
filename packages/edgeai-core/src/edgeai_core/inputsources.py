"""Where a benchmark's inputs come from when no dataset gives them: the user's ``.npz`` file or seeded
synthetic arrays shaped by the model's IO spec (``edgeai bench``).

An :class:`InputSource` turns the model's IO spec and the batch size into the pool of batches the benchmark
cycles through, one array per model input, in the IO spec's order, so models with several inputs are fed
every one of them. Inputs that do not fit the model fail with one line naming the file, the input and the
expected shape (a usage error, exit code 2).
"""

from __future__ import annotations

import abc
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.artifacts import IOSpec, TensorSpec
from edgeai_core.errors import UsageError
from edgeai_core.tensors import fits_input
from edgeai_core.text import shape_text

#: The key of an ``.npz`` file's labels (class indices, one per sample), when it is not a model input.
LABELS = "labels"
#: Batches a source hands to the benchmark at most (it cycles through them).
POOL = 256


def sample_shape_text(spec: TensorSpec) -> str:
    """An input's shape as a stack of samples: ``(N, 3, 224, 224)`` (the first axis counts samples)."""
    return shape_text(("N", *spec.shape[1:]))


def check_batch(io: IOSpec, batch: int) -> None:
    """Every input whose first dimension is fixed must be fixed at ``batch``."""
    for spec in io.inputs:
        first = spec.shape[0] if spec.shape else None
        if isinstance(first, int) and first > 0 and first != batch:
            raise UsageError(
                f"batch {batch}: input '{spec.name}' has a fixed batch of {first} (shape "
                f"{shape_text(spec.shape)}); use batch {first} or a model with a dynamic batch dimension"
            )


class InputSource(abc.ABC):
    """Inputs for a benchmark run without a dataset."""

    #: class indices aligned with the samples, when the source has them (quality is then evaluated)
    labels: np.ndarray | None = None

    @abc.abstractmethod
    def describe(self) -> str:
        """What the inputs are, for the plan and the results (``synthetic``, ``inputs.npz (100 samples)``)."""

    @abc.abstractmethod
    def batches(self, io: IOSpec, batch: int, seed: int) -> list[list[np.ndarray]]:
        """Up to :data:`POOL` batches, each one array per input of ``io`` in its order."""

    def samples(self, io: IOSpec) -> list[np.ndarray]:
        """Every sample, one stacked array per input (for quality evaluation, when there are labels)."""
        raise NotImplementedError


class SyntheticInputs(InputSource):
    """Seeded random arrays of each input's dtype and shape (dynamic dimensions other than the batch must be
    given to the model: their size is unknown)."""

    def describe(self) -> str:
        return "synthetic (seeded, shaped by the model's inputs)"

    def batches(self, io: IOSpec, batch: int, seed: int) -> list[list[np.ndarray]]:
        from edgeai_core.runner import synthetic_inputs

        check_batch(io, batch)
        return [synthetic_inputs(io, batch, seed + i) for i in range(16)]


class NpzInputs(InputSource):
    """Arrays from an ``.npz`` file: one per model input, keyed by the input's name, the first axis counting
    samples; optionally ``labels`` (one class index per sample)."""

    def __init__(self, path: Path, arrays: Mapping[str, np.ndarray]) -> None:
        self.path = path
        self.arrays = dict(arrays)

    @classmethod
    def load(cls, path: str | Path) -> NpzInputs:
        """Read the file (no pickled objects); errors name it."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise UsageError(f"--inputs: {path} {'is not a file' if path.exists() else 'does not exist'}")
        if not zipfile.is_zipfile(path):
            raise UsageError(f"--inputs: {path} is not an .npz file (numpy.savez writes one)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise UsageError(f"--inputs: {path} is not a readable .npz file: {exc}") from None
        if not arrays:
            raise UsageError(f"--inputs: {path} holds no arrays")
        for name, array in arrays.items():
            if array.ndim == 0:
                raise UsageError(
                    f"--inputs: {path}: array '{name}' is a scalar; the first axis must count samples"
                )
        return cls(path, arrays)

    def describe(self) -> str:
        counts = {int(a.shape[0]) for a in self.arrays.values()}
        samples = f"{counts.pop()} samples" if len(counts) == 1 else "samples"
        labelled = ", with labels" if self.labels is not None else ""
        return f"{self.path} ({samples}{labelled})"

    def check(self, io: IOSpec) -> list[np.ndarray]:
        """The arrays in the IO spec's input order, cast where that loses nothing of the kind; every
        mismatch is one line naming the file, the input and the expected shape."""
        where = f"--inputs {self.path}"
        names = [spec.name for spec in io.inputs]
        extra = [k for k in self.arrays if k not in names and k != LABELS]
        if extra:
            raise UsageError(
                f"{where}: array '{extra[0]}' is not an input of the model (its inputs: {', '.join(names)}; "
                f"'{LABELS}' may hold class labels)"
            )
        ordered: list[np.ndarray] = []
        for spec in io.inputs:
            array = self.arrays.get(spec.name)
            if array is None:
                raise UsageError(
                    f"{where}: no array for input '{spec.name}', expected shape {sample_shape_text(spec)} "
                    f"{spec.dtype} (its arrays: {', '.join(self.arrays)})"
                )
            if not fits_input(array.shape[1:], spec.shape[1:]):
                raise UsageError(
                    f"{where}: input '{spec.name}' has shape {shape_text(array.shape)}, expected "
                    f"{sample_shape_text(spec)} (the first axis counts samples)"
                )
            ordered.append(_cast(array, spec, where))
        counts = {spec.name: len(a) for spec, a in zip(io.inputs, ordered, strict=True)}
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"'{k}' {v}" for k, v in counts.items())
            raise UsageError(f"{where}: the inputs hold different numbers of samples ({shown})")
        samples = next(iter(counts.values()), 0)
        if samples == 0:
            raise UsageError(f"{where}: the arrays hold no samples")
        labels = self.arrays.get(LABELS) if LABELS not in names else None
        if labels is not None:
            if labels.ndim != 1 or len(labels) != samples or labels.dtype.kind not in "iu":
                raise UsageError(
                    f"{where}: '{LABELS}' must hold one integer class index per sample, shape ({samples},), "
                    f"got {shape_text(labels.shape)} {labels.dtype}"
                )
            self.labels = labels
        return ordered

    def batches(self, io: IOSpec, batch: int, seed: int) -> list[list[np.ndarray]]:
        arrays = self.check(io)
        check_batch(io, batch)
        samples = len(arrays[0])
        if samples < batch:
            raise UsageError(
                f"--inputs {self.path}: batch {batch} needs at least {batch} samples, it holds {samples}"
            )
        count = min(samples // batch, POOL)
        return [[a[i * batch : (i + 1) * batch] for a in arrays] for i in range(count)]

    def samples(self, io: IOSpec) -> list[np.ndarray]:
        return self.check(io)


def _cast(array: np.ndarray, spec: TensorSpec, where: str) -> np.ndarray:
    """``array`` as the input's dtype: floats from any float or integer, integers from integers of a kind
    that fits; anything else (floats for an integer input) is an error."""
    want = np.dtype(spec.dtype) if spec.dtype != "bfloat16" else None
    if want is None or array.dtype == want:
        return np.ascontiguousarray(array)
    if spec.quantized and array.dtype.kind == "f":  # real values: the runtime quantizes them
        return np.ascontiguousarray(array, dtype=np.float32)
    ok = (
        (want.kind == "f" and array.dtype.kind in "fiub")
        or (want.kind in "iu" and array.dtype.kind in "iub" and np.can_cast(array.dtype, want, "same_kind"))
        or (want.kind == "b" and array.dtype.kind == "b")
    )
    if not ok:
        raise UsageError(
            f"{where}: input '{spec.name}' holds {array.dtype} values, expected {spec.dtype} "
            f"(shape {sample_shape_text(spec)})"
        )
    converted: Any = array.astype(want)
    return np.ascontiguousarray(converted)
