"""A base class for image classification datasets: splitting, preprocessing, class names, memory budget.

A subclass says *what* the samples are (:meth:`ImageClassificationDataset._load_index`: labels, class
names, an optional official test split) and *how to get pixels* for some of them
(:meth:`ImageClassificationDataset._load_images`: uint8 ``(k, size, size, channels)``). The base does the
rest the same way for every dataset:

- stratified, seeded train/validation/test splits (:mod:`edgeai_datasets.splits`), with ``limit``;
- the preprocessing of :mod:`edgeai_datasets.preprocess` (resize, channels, scale, mean/std, layout);
- lazy materialization: a split is decoded only when :meth:`split` asks for it, in chunks, and kept. The
  core's :class:`~edgeai_core.components.Split` holds numpy arrays, so a split costs
  ``len(split) * channels * size * size * 4`` bytes (Oxford-IIIT Pet's 5144-image train split at 224x224x3:
  3.1 GB). Splits are kept in memory while they fit ``cache_mb`` together; a split beyond that budget is
  decoded into a float32 ``numpy.memmap`` over an unlinked temporary file in the component's work
  directory, so it costs disk space and page cache instead of resident memory and is still decoded once;
- :meth:`calibration_inputs` decodes only the calibration samples unless the train split is already there.

Detection or segmentation datasets can reuse the splitting and download machinery; only the targets differ.
"""

from __future__ import annotations

import abc
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.api import PLACEHOLDER_INPUT, SPLITS, Context, Dataset, DatasetError, ParameterError, Split
from edgeai_datasets.splits import stratified_split, stratified_subset

if TYPE_CHECKING:
    from edgeai_core.api import IOSpec, Registration

log = logging.getLogger(__name__)

#: Samples decoded per step (bounds the temporary uint8 and float32 buffers).
CHUNK = 256


@dataclass(frozen=True)
class SampleIndex:
    """What a dataset holds, before any pixel is decoded.

    ``labels``: class index per sample (int64, ``0 <= label < len(class_names)``), in a fixed order.
    ``test_mask``: True for samples of an official test split (MNIST's t10k files); None when the test
    split is drawn with ``test_fraction``.
    """

    labels: np.ndarray
    class_names: list[str]
    test_mask: np.ndarray | None = None


def _round(value: float) -> int:
    return int(np.floor(value + 0.5))


class ImageClassificationDataset(Dataset):
    """Image classification with the shared parameters of :func:`edgeai_datasets.plugin.image_params`."""

    def __init__(
        self, *, record: Registration, params: Mapping[str, Any], context: Context | None = None
    ) -> None:
        super().__init__(record=record, params=params, context=context)
        self._check_params()
        self._index: SampleIndex | None = None
        self._indices: dict[str, np.ndarray] = {}
        self._splits: dict[str, Split] = {}
        self._input_name = PLACEHOLDER_INPUT
        self._cached_bytes = 0

    # -- what subclasses implement ------------------------------------------------------------------

    @abc.abstractmethod
    def _load_index(self) -> SampleIndex:
        """Find (download if allowed) the data and return its labels; decode no pixels yet."""

    @abc.abstractmethod
    def _load_images(self, indices: np.ndarray) -> np.ndarray:
        """uint8 ``(len(indices), image_size, image_size, channels)`` for these samples, in this order.

        Use :func:`edgeai_datasets.preprocess.arrays_to_uint8` for images held in memory and
        :meth:`_decode_files` for image files.
        """

    # -- parameters ---------------------------------------------------------------------------------

    def _check_params(self) -> None:
        p = self.params
        channels = p["channels"]
        if channels not in (1, 3):
            raise ParameterError("dataset.channels", f"must be 1 or 3, got {channels}")
        for key in ("mean", "std"):
            values = p[key]
            if values is not None and len(values) not in (1, channels):
                raise ParameterError(
                    f"dataset.{key}",
                    f"needs 1 value or {channels} (one per channel), got {len(values)}: {values}",
                )
        if p["std"] is not None and any(v <= 0 for v in p["std"]):
            raise ParameterError("dataset.std", f"every value must be > 0, got {p['std']}")
        held_out = p["validation_fraction"] + p.get("test_fraction", 0.0)
        if held_out >= 1.0:
            raise ParameterError(
                "dataset.validation_fraction",
                f"validation_fraction + test_fraction must stay below 1 to leave training samples, "
                f"got {held_out:g}",
            )

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """The shape of one preprocessed sample: ``(C, H, W)`` or ``(H, W, C)`` by ``layout``."""
        size, channels = self.params["image_size"], self.params["channels"]
        return (channels, size, size) if self.params["layout"] == "NCHW" else (size, size, channels)

    # -- Dataset interface --------------------------------------------------------------------------

    def prepare(self) -> None:
        """Find the data and draw the splits; pixels are decoded later, per split (see the module doc)."""
        if self._index is not None:
            return
        index = self._load_index()
        labels = np.asarray(index.labels, dtype=np.int64)
        if labels.ndim != 1 or len(labels) == 0:
            raise DatasetError(f"{self.name}: the dataset holds no samples")
        if labels.min() < 0 or labels.max() >= len(index.class_names):
            raise DatasetError(
                f"{self.name}: labels range over {labels.min()}..{labels.max()} but there are "
                f"{len(index.class_names)} class names"
            )
        index = SampleIndex(labels, list(index.class_names), index.test_mask)
        self._indices = self._draw_splits(index)
        self._index = index
        self._splits, self._cached_bytes = {}, 0
        log.info(
            "%s: %d classes, %s",
            self.name,
            len(index.class_names),
            ", ".join(f"{name} {len(ix)}" for name, ix in self._indices.items()),
        )

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}'; use {', '.join(SPLITS)}")
        if name not in self._splits:
            index = self._prepared()
            indices = self._indices[name]
            inputs = self._decode(indices, name, keep=True)
            self._splits[name] = Split({self._input_name: inputs}, index.labels[indices])
        return self._splits[name]

    def use_io_spec(self, io: IOSpec) -> None:
        """Name the (single) input array after the model's input when it has exactly one."""
        name = io.inputs[0].name if len(io.inputs) == 1 else PLACEHOLDER_INPUT
        if name != self._input_name:
            self._input_name = name
            self._splits = {k: Split({name: v.input}, v.targets) for k, v in self._splits.items()}

    def split_indices(self, name: str) -> np.ndarray:
        """Positions of the split's samples in the dataset's fixed sample order (for reproducibility checks)."""
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}'; use {', '.join(SPLITS)}")
        self._prepared()
        return self._indices[name].copy()

    @property
    def class_names(self) -> list[str]:
        return list(self._prepared().class_names)

    def calibration_inputs(self, count: int) -> np.ndarray:
        """The same seeded subset of the train split as the core's default, decoding only those samples."""
        train = self.split_indices("train")
        rng = np.random.default_rng(self.context.seed)
        pick = np.sort(rng.permutation(len(train))[: min(count, len(train))])
        if "train" in self._splits:
            return np.asarray(self._splits["train"].input[pick])
        return self._decode(train[pick], "calibration", keep=False)

    def calibration_samples(self, count: int) -> dict[str, np.ndarray]:
        return {self._input_name: self.calibration_inputs(count)}

    def versions(self) -> dict[str, str]:
        import PIL

        return {"numpy": np.__version__, "pillow": PIL.__version__}

    # -- machinery ----------------------------------------------------------------------------------

    def _prepared(self) -> SampleIndex:
        if self._index is None:
            self.prepare()
        assert self._index is not None
        return self._index

    def _draw_splits(self, index: SampleIndex) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.context.seed)
        labels, limit = index.labels, self.params["limit"]
        validation_fraction = self.params["validation_fraction"]
        if index.test_mask is None:
            pool = np.arange(len(labels), dtype=np.int64)
            if limit is not None:
                pool = stratified_subset(labels, limit, rng)
            test_fraction = self.params["test_fraction"]
            test, validation, train = stratified_split(
                labels[pool], [test_fraction, validation_fraction], rng
            )
            return {"train": pool[train], "validation": pool[validation], "test": pool[test]}
        mask = np.asarray(index.test_mask, dtype=bool)
        train_pool, test_pool = np.flatnonzero(~mask), np.flatnonzero(mask)
        if limit is not None and limit < len(labels):
            n_test = _round(limit * len(test_pool) / len(labels))
            test_pool = test_pool[stratified_subset(labels[test_pool], n_test, rng)]
            train_pool = train_pool[stratified_subset(labels[train_pool], limit - n_test, rng)]
        validation, train = stratified_split(labels[train_pool], [validation_fraction], rng)
        return {
            "train": train_pool[train],
            "validation": train_pool[validation],
            "test": rng.permutation(test_pool),
        }

    def _decode(self, indices: np.ndarray, what: str, *, keep: bool) -> np.ndarray:
        """Preprocessed float32 inputs for ``indices``; ``keep``: counted against (or spilled beyond) cache_mb."""
        from edgeai_datasets.preprocess import finish

        p = self.params
        shape = (len(indices), *self.sample_shape)
        nbytes = int(np.prod(shape)) * 4
        budget = p["cache_mb"] * 2**20
        out: np.ndarray
        if keep and nbytes and self._cached_bytes + nbytes > budget:
            out = self._disk_array(shape)
            log.info(
                "%s: the %s split takes %.1f MiB, beyond cache_mb=%d; decoding it to a temporary file in %s",
                self.name,
                what,
                nbytes / 2**20,
                p["cache_mb"],
                self.context.workdir,
            )
        else:
            out = np.empty(shape, np.float32)
            if keep:
                self._cached_bytes += nbytes
        total = len(indices)
        for start in range(0, total, CHUNK):
            chunk = indices[start : start + CHUNK]
            images = self._load_images(chunk)
            finish(images, p["mean"], p["std"], p["layout"], out=out[start : start + len(chunk)])
            self.context.progress.update(start + len(chunk), total, f"{what} images")
        if isinstance(out, np.memmap):
            out.flush()
        return out

    def _disk_array(self, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 memmap over an unlinked temporary file: the OS reclaims it when the array goes away."""
        directory = Path(self.context.workdir)
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix="edgeai-split-") as handle:
            # the mapping holds its own reference to the file, so it outlives the handle
            return np.memmap(handle, dtype=np.float32, mode="w+", shape=shape)

    def _decode_files(self, paths: Sequence[Path]) -> np.ndarray:
        """Decode image files in threads (Pillow releases the GIL while decoding and resizing)."""
        from edgeai_datasets.preprocess import decode_file

        size, channels = self.params["image_size"], self.params["channels"]
        out = np.empty((len(paths), size, size, channels), np.uint8)
        workers = max(1, min(8, os.cpu_count() or 1, len(paths)))
        if workers == 1:
            for i, path in enumerate(paths):
                out[i] = decode_file(path, size, channels)
            return out
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, image in enumerate(pool.map(lambda path: decode_file(path, size, channels), paths)):
                out[i] = image
        return out
