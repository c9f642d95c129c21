"""``mnist``: generated IDX files (gzip and raw), the official test split, format errors, download."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edgeai_core.components import SPLITS
from edgeai_core.errors import DatasetError

NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _write(root: Path, files: dict[str, bytes], compressed: tuple[str, ...] = NAMES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name in compressed:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return root


def _label_from_pixels(inputs: np.ndarray) -> np.ndarray:
    """The generator's block value is 20 * label + 30 (see conftest.mnist_arrays)."""
    block = inputs[:, 0, 10, 10] * 255
    return np.round((block - 30) / 20).astype(np.int64)


def test_loads_gz_and_raw_files_with_the_official_test_split(
    make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path
) -> None:
    # mixed: the images compressed, the labels raw
    root = _write(tmp_path / "mnist", gen.mnist_files(), compressed=NAMES[0::2])
    ds = make("mnist", root=str(root), validation_fraction=0.25)
    assert ds.class_names == [str(d) for d in range(10)]
    splits = {name: ds.split(name) for name in SPLITS}
    assert {name: len(s) for name, s in splits.items()} == {"train": 30, "validation": 10, "test": 20}
    assert sorted(ds.split_indices("test").tolist()) == list(range(40, 60)), "test = the t10k files"
    for split in splits.values():
        assert split.input.shape[1:] == (1, 28, 28)
        np.testing.assert_array_equal(_label_from_pixels(split.input), split.targets)
    assert np.bincount(splits["validation"].targets).tolist() == [1] * 10, "validation stratified"


def test_resize_rgb_nhwc_and_limit(make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path) -> None:
    root = _write(tmp_path / "mnist", gen.mnist_files())
    ds = make("mnist", root=str(root), image_size=14, channels=3, layout="NHWC", limit=30)
    splits = {name: ds.split(name) for name in SPLITS}
    assert sum(len(s) for s in splits.values()) == 30
    assert len(splits["test"]) == 10, "the limit keeps the official test share (20 of 60)"
    assert splits["train"].input.shape[1:] == (14, 14, 3)


def test_a_bad_magic_number_is_named(make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path) -> None:
    files = gen.mnist_files()
    files["t10k-labels-idx1-ubyte"] = files["t10k-images-idx3-ubyte"]  # images where labels belong
    root = _write(tmp_path / "mnist", files)
    with pytest.raises(
        DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: bad magic number 0x00000803, expected 0x00000801"
    ):
        make("mnist", root=str(root)).prepare()


def test_a_truncated_file_is_named(make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path) -> None:
    files = gen.mnist_files()
    files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:-100]
    root = _write(tmp_path / "mnist", files, compressed=())
    with pytest.raises(
        DatasetError, match=r"train-images-idx3-ubyte is truncated: its header promises 40x28x28"
    ):
        make("mnist", root=str(root)).prepare()


def test_a_truncated_gzip_stream_is_named(
    make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path
) -> None:
    root = _write(tmp_path / "mnist", gen.mnist_files())
    path = root / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: cannot read it"):
        make("mnist", root=str(root)).prepare()


def test_a_count_mismatch_is_named(make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path) -> None:
    files = gen.mnist_files()
    files["train-labels-idx1-ubyte"] = gen.idx_bytes(np.zeros(39, np.uint8), 0x00000801)
    root = _write(tmp_path / "mnist", files)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz holds 40 images but .* 39 labels"):
        make("mnist", root=str(root)).prepare()


def test_absent_files_without_download_say_how_to_get_them(make: Callable[..., Any], tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=rf"mnist: no data in {tmp_path}; pass --set dataset\.download=true"
    ):
        make("mnist", root=str(tmp_path)).prepare()


def test_download_from_a_local_server(
    make: Callable[..., Any], gen: SimpleNamespace, server: Any, tmp_path: Path
) -> None:
    raw = gen.mnist_files()
    served = {f"{name}.gz": gzip.compress(data) for name, data in raw.items()}
    server.files.update(served)
    checksums = {name: "md5:" + hashlib.md5(data).hexdigest() for name, data in served.items()}
    root = tmp_path / "mnist"
    ds = make("mnist", root=str(root), download=True, url=server.url.rstrip("/"), checksums=checksums)
    assert len(ds.split("test")) == 20
    assert sorted(path for path, _ in server.requests) == sorted(f"/{name}" for name in served)
    for name, data in served.items():
        assert (root / name).read_bytes() == data
    make("mnist", root=str(root), download=True, url=server.url, checksums=checksums).prepare()
    assert len(server.requests) == 4, "nothing downloaded twice"


def test_the_official_md5s_reject_other_files(
    make: Callable[..., Any], gen: SimpleNamespace, server: Any, tmp_path: Path
) -> None:
    server.files.update({f"{name}.gz": gzip.compress(data) for name, data in gen.mnist_files().items()})
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz is corrupt: expected md5:f68b3c2d"):
        make("mnist", root=str(tmp_path / "m"), download=True, url=server.url).prepare()
    assert list((tmp_path / "m").iterdir()) == []
