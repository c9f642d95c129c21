"""``mnist``: MNIST handwritten digits read from the four IDX files, with the official test split.

The IDX format (http://yann.lecun.com/exdb/mnist/) is parsed here with numpy: a big-endian magic number
(``0x00000803`` for the images, ``0x00000801`` for the labels: unsigned bytes, 3 or 1 dimensions), the
dimension sizes as big-endian uint32, then the data. Files may be gzip-compressed (``*.gz``, as published)
or not (the same names without ``.gz``). The t10k files are the test split; the training files are split
into train and validation by the seed (``validation_fraction`` of them, stratified).

The download (about 12 MB) happens only with ``download=true``; downloaded files are checked against their
official MD5s (or the ``checksums`` parameter).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from edgeai_core.api import DatasetError
from edgeai_datasets.base import ImageClassificationDataset, SampleIndex
from edgeai_datasets.download import checksums_for, fetch, join_url, missing_data_error
from edgeai_datasets.preprocess import arrays_to_uint8

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

#: The published files and their MD5s (as listed by torchvision's MNIST).
FILES: dict[str, str | None] = {
    "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
}
SIZE = "about 12 MB"


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file (gzip or raw) whose magic number must be ``magic``."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read it ({exc}); delete it and run again") from None
    if len(data) < 4:
        raise DatasetError(f"{path} is truncated: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise DatasetError(
            f"{path}: bad magic number 0x{found:08x}, expected 0x{magic:08x} for IDX {kind}; "
            "it is not an MNIST file or it is corrupt"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path} is truncated: {len(data)} bytes, the IDX header alone needs {header}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    body = len(data) - header
    if body < expected:
        raise DatasetError(
            f"{path} is truncated: its header promises {'x'.join(map(str, dims))} = {expected} bytes of data, "
            f"but only {body} follow; delete it and download it again"
        )
    if body > expected:
        raise DatasetError(
            f"{path}: {body - expected} unexpected bytes after the {'x'.join(map(str, dims))} data; "
            "it is corrupt: delete it and download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=header).reshape(dims)


class Mnist(ImageClassificationDataset):
    """MNIST: classes "0".."9"; test = the t10k files; train split into train/validation by the seed."""

    _images: np.ndarray

    def _load_index(self) -> SampleIndex:
        files = self._ensure_files(Path(self.params["root"]).expanduser())
        parts = {}
        for split in ("train", "t10k"):
            image_file, label_file = (
                files[f"{split}-images-idx3-ubyte.gz"],
                files[f"{split}-labels-idx1-ubyte.gz"],
            )
            images, labels = read_idx(image_file, IMAGES_MAGIC), read_idx(label_file, LABELS_MAGIC)
            if len(images) != len(labels):
                raise DatasetError(
                    f"{image_file} holds {len(images)} images but {label_file} {len(labels)} labels; "
                    "one of them is corrupt or from another dataset"
                )
            if len(labels) and labels.max() > 9:
                raise DatasetError(f"{label_file}: label {labels.max()} is not a digit 0-9")
            parts[split] = (images, labels)
        (train_x, train_y), (test_x, test_y) = parts["train"], parts["t10k"]
        if train_x.shape[1:] != test_x.shape[1:]:
            raise DatasetError(
                f"training images are {train_x.shape[1:]} but test images {test_x.shape[1:]}; "
                "the files come from different datasets"
            )
        self._images = np.concatenate([train_x, test_x])
        labels = np.concatenate([train_y, test_y]).astype(np.int64)
        test_mask = np.arange(len(labels)) >= len(train_y)
        return SampleIndex(labels, [str(d) for d in range(10)], test_mask)

    def _load_images(self, indices: np.ndarray) -> np.ndarray:
        return arrays_to_uint8(self._images[indices], self.params["image_size"], self.params["channels"])

    def _ensure_files(self, root: Path) -> dict[str, Path]:
        """The path of each of the four files (``.gz`` or uncompressed), downloading missing ones if allowed."""
        checksums = checksums_for(self.params["checksums"], FILES)
        found: dict[str, Path] = {}
        missing: list[str] = []
        for name in FILES:
            for candidate in (root / name, root / name[: -len(".gz")]):
                if candidate.is_file():
                    found[name] = candidate
                    break
            else:
                missing.append(name)
        if missing and not self.params["download"]:
            raise missing_data_error(
                self.name, root, missing, list(FILES), SIZE, " (uncompressed, without .gz, works too)"
            )
        for name in missing:
            found[name] = fetch(
                join_url(self.params["url"], name),
                root / name,
                checksum=checksums[name],
                progress=self.context.progress,
            )
        return found
