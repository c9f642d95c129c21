"""``files``: the user's own input arrays, one entry per model input.

Either one ``.npz`` (``path``: its keys are the model's input names, axis 0 the samples; a ``labels`` key may hold
the labels) or one ``.npy`` per input (``inputs = {boxes = "b.npy", scores = "s.npy"}``). ``labels`` is a key of
the ``.npz`` or a ``.npy`` file of one integer label per sample; with labels the task is classification, without
them quality is not applicable. The samples are split by seeded fractions (``validation_fraction``,
``test_fraction``; the rest is ``train``) or, with ``split = "all"``, every split holds every sample (benchmark
and calibration on the same few samples).

Once the model's IO spec is known (:meth:`Files.use_io_spec`, also called by ``--dry-run`` through
:meth:`Files.input_shapes`), the names, per-sample shapes and dtype kinds are checked: a mismatch is a
:class:`UsageError` (exit 2) naming the file, the input and the expected shape. A single-input model takes a
file with a single array whatever its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.api import (
    SPLITS,
    Context,
    Dataset,
    DatasetError,
    ParameterError,
    Split,
    UsageError,
    fits_input,
)

if TYPE_CHECKING:
    from edgeai_core.api import IOSpec, Registration, TensorSpec


def _shape(spec_shape: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else "?" for d in spec_shape)


class Files(Dataset):
    """Arrays from ``.npz``/``.npy`` files; see the module documentation."""

    def __init__(
        self, *, record: Registration, params: Mapping[str, Any], context: Context | None = None
    ) -> None:
        super().__init__(record=record, params=params, context=context)
        p = self.params
        if (p["path"] is None) == (not p["inputs"]):
            raise ParameterError(
                "dataset.path",
                "give either path (one .npz whose keys are the input names) or inputs "
                '(input name -> .npy file, e.g. inputs = {x = "x.npy"}), not both or neither',
            )
        held_out = p["validation_fraction"] + p["test_fraction"]
        if p["split"] == "random" and held_out >= 1.0:
            raise ParameterError(
                "dataset.validation_fraction",
                f"validation_fraction + test_fraction must stay below 1 to leave training samples, "
                f"got {held_out:g}",
            )
        self._arrays: dict[str, np.ndarray] | None = None
        self._where: dict[str, str] = {}  # input name -> the file it came from
        self._labels: np.ndarray | None = None
        self._labels_where = ""
        self._splits: dict[str, Split] = {}
        self._indices: dict[str, np.ndarray] = {}

    # -- loading -------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Read the arrays (``.npy`` files memory-mapped), check they align and draw the splits."""
        if self._arrays is not None:
            return
        p = self.params
        arrays: dict[str, np.ndarray] = {}
        labels_key = p["labels"]
        if p["path"] is not None:
            path = Path(p["path"]).expanduser()
            data = self._load(path, ".npz")
            assert isinstance(data, np.lib.npyio.NpzFile)
            with data:
                for key in data.files:
                    if key == labels_key:
                        self._labels, self._labels_where = np.asarray(data[key]), f"{path.name}['{key}']"
                    else:
                        arrays[key], self._where[key] = np.asarray(data[key]), path.name
            if labels_key is not None and self._labels is None and not labels_key.endswith(".npy"):
                raise UsageError(
                    f"files: {path} has no array '{labels_key}' for the labels; its keys are "
                    f"{', '.join(arrays) or 'none'}"
                )
        else:
            for name, file in p["inputs"].items():
                path = Path(str(file)).expanduser()
                arrays[str(name)], self._where[str(name)] = self._load(path, ".npy"), path.name
        if labels_key is not None and self._labels is None:
            path = Path(labels_key).expanduser()
            self._labels, self._labels_where = np.asarray(self._load(path, ".npy")), path.name
        if not arrays:
            raise UsageError(f"files: {p['path']} holds no input arrays")
        counts = {name: (a.shape[0] if a.ndim else 0) for name, a in arrays.items()}
        for name, a in arrays.items():
            if a.ndim < 1:
                raise UsageError(
                    f"files: {self._where[name]}: input '{name}' is a scalar; axis 0 must be the samples"
                )
        first = next(iter(arrays))
        for name, count in counts.items():
            if count != counts[first]:
                raise UsageError(
                    f"files: {self._where[name]}: input '{name}' has {count} samples but input '{first}' in "
                    f"{self._where[first]} has {counts[first]}; every input needs the same number along axis 0"
                )
        if self._labels is not None:
            labels = self._labels
            if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != counts[first]:
                raise UsageError(
                    f"files: {self._labels_where}: labels of shape {tuple(labels.shape)} and dtype {labels.dtype} "
                    f"do not align with input '{first}' ({counts[first]} samples); expected integer labels of "
                    f"shape ({counts[first]},)"
                )
            if labels.min() < 0:
                raise UsageError(f"files: {self._labels_where}: labels must be >= 0, got {labels.min()}")
            self._labels = labels.astype(np.int64)
        self._arrays = arrays
        self._indices = self._draw(counts[first])

    @staticmethod
    def _load(path: Path, suffix: str) -> Any:
        if path.suffix.lower() != suffix:
            raise UsageError(f"files: {path} should be a {suffix} file")
        if not path.is_file():
            raise UsageError(f"files: {path} does not exist")
        try:
            return np.load(path, mmap_mode="r" if suffix == ".npy" else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UsageError(f"files: {path} is not a readable {suffix} file ({exc})") from None

    def _draw(self, count: int) -> dict[str, np.ndarray]:
        every = np.arange(count)
        if self.params["split"] == "all":
            return {name: every for name in SPLITS}
        order = np.random.default_rng(self.context.seed).permutation(count)
        n_val = round(count * self.params["validation_fraction"])
        n_test = round(count * self.params["test_fraction"])
        if count - n_val - n_test < 1:
            raise UsageError(
                f"files: {count} samples leave none for training with validation_fraction "
                f"{self.params['validation_fraction']:g} and test_fraction {self.params['test_fraction']:g}; "
                'use split = "all" for so few samples'
            )
        return {
            "train": np.sort(order[n_val + n_test :]),
            "validation": np.sort(order[:n_val]),
            "test": np.sort(order[n_val : n_val + n_test]),
        }

    def _loaded(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self.prepare()
        assert self._arrays is not None
        return self._arrays

    # -- the model's inputs --------------------------------------------------------------------------

    def _rename(self, io: IOSpec) -> dict[str, TensorSpec]:
        """Input name here -> the model input it feeds; a UsageError naming the file when they differ."""
        arrays = self._loaded()
        specs = {spec.name: spec for spec in io.inputs}
        if len(specs) == 1 and len(arrays) == 1:
            return {next(iter(arrays)): next(iter(specs.values()))}
        missing = [name for name in specs if name not in arrays]
        extra = [name for name in arrays if name not in specs]
        if missing or extra:
            files = ", ".join(sorted(set(self._where.values())))
            wanted = ", ".join(f"{s.name} {_shape(s.shape)}" for s in io.inputs)
            problem = (
                f"no array for input '{missing[0]}'" if missing else f"an array '{extra[0]}' the model lacks"
            )
            raise UsageError(
                f"files: {files} has {problem}: it holds {', '.join(arrays)}, the model takes "
                f"{len(specs)} input(s): {wanted}"
            )
        return {name: specs[name] for name in arrays}

    def input_shapes(self, io: IOSpec) -> dict[str, tuple[int, ...]]:
        """Model input name -> per-sample shape of its array, checked against ``io`` (UsageError if unfit)."""
        arrays = self._loaded()
        shapes = {}
        for name, spec in self._rename(io).items():
            array = arrays[name]
            want, got = tuple(spec.shape[1:]), tuple(array.shape[1:])
            if not fits_input(got, want):
                raise UsageError(
                    f"files: {self._where[name]}: input '{spec.name}' has samples of shape {got}, the model "
                    f"expects {_shape(want)} per sample (array shape {_shape((None, *want))})"
                )
            kind = np.dtype(spec.dtype if spec.dtype != "bfloat16" else "float32").kind
            if array.dtype.kind != kind and not (kind == "f" and array.dtype.kind in "iu"):
                raise UsageError(
                    f"files: {self._where[name]}: input '{spec.name}' is {array.dtype}, the model expects "
                    f"{spec.dtype}"
                )
            shapes[spec.name] = tuple(int(d) for d in got)
        return shapes

    def use_io_spec(self, io: IOSpec) -> None:
        """Check the arrays against the model's inputs and name them after those inputs."""
        self.input_shapes(io)
        renamed = self._rename(io)
        arrays = self._loaded()
        self._arrays = {}
        for name, spec in renamed.items():
            array = arrays[name]
            dtype = np.dtype(spec.dtype) if spec.dtype != "bfloat16" else np.dtype("float32")
            self._arrays[spec.name] = array if array.dtype == dtype else array.astype(dtype)
            self._where[spec.name] = self._where[name]
        self._splits = {}

    # -- Dataset interface ---------------------------------------------------------------------------

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}'; use {', '.join(SPLITS)}")
        if name not in self._splits:
            arrays = self._loaded()
            index = self._indices[name]
            targets = self._labels[index] if self._labels is not None else np.zeros(len(index), np.int64)
            self._splits[name] = Split(
                {k: np.ascontiguousarray(a[index]) for k, a in arrays.items()}, targets
            )
        return self._splits[name]

    @property
    def task(self) -> str:
        return "classification" if self.params["labels"] is not None else "any"

    @property
    def has_labels(self) -> bool:
        return self.params["labels"] is not None

    @property
    def class_names(self) -> list[str]:
        self._loaded()
        if self._labels is None:
            return []
        return [str(i) for i in range(int(self._labels.max()) + 1)]

    def evaluate(self, outputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
        if self._labels is None:
            return {"task": "any", "applicable": False, "reason": "the files dataset has no labels"}
        return super().evaluate(outputs, targets)

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}
