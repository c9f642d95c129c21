"""``oxford-pets``: generated archives in the real layout, served by a local HTTP server."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edgeai_core.components import SPLITS
from edgeai_core.errors import DatasetError


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def pets(server: Any, gen: SimpleNamespace) -> SimpleNamespace:
    archives, labels = gen.pets_archives(per_breed=6)
    server.files.update(archives)
    checksums = {name: _sha256(data) for name, data in archives.items()}
    return SimpleNamespace(archives=archives, labels=labels, checksums=checksums, server=server)


def _params(root: Path, pets: SimpleNamespace, **extra: Any) -> dict[str, Any]:
    return {
        "root": str(root),
        "url": pets.server.url,
        "checksums": pets.checksums,
        "image_size": 16,
        "validation_fraction": 1 / 6,
        "test_fraction": 1 / 3,
        **extra,
    }


def test_absent_data_without_download_says_how_to_get_it(
    make: Callable[..., Any], pets: SimpleNamespace, tmp_path: Path
) -> None:
    root = tmp_path / "pets"
    with pytest.raises(DatasetError) as err:
        make("oxford-pets", **_params(root, pets)).prepare()
    assert str(err.value) == (
        f"oxford-pets: no data in {root}; pass --set dataset.download=true (about 800 MB) "
        "or put images.tar.gz and annotations.tar.gz there"
    )
    assert pets.server.requests == []


def test_download_verifies_extracts_and_loads(
    make: Callable[..., Any], pets: SimpleNamespace, gen: SimpleNamespace, tmp_path: Path
) -> None:
    root = tmp_path / "pets"
    ds = make("oxford-pets", **_params(root, pets, download=True))
    ds.prepare()
    assert sorted(path for path, _ in pets.server.requests) == ["/annotations.tar.gz", "/images.tar.gz"]
    assert (root / "images.tar.gz").read_bytes() == pets.archives["images.tar.gz"]
    assert (root / "annotations" / "list.txt").is_file() and (root / "images" / "Bengal_101.jpg").is_file()
    assert ds.class_names == list(gen.PET_BREEDS)  # ordered by CLASS-ID, named after the images
    splits = {name: ds.split(name) for name in SPLITS}
    assert {name: len(s) for name, s in splits.items()} == {"train": 9, "validation": 3, "test": 6}
    names = [p.stem for p in ds._paths]
    assert "unlisted_1" not in names and len(names) == 18
    for name, split in splits.items():
        assert split.input.shape[1:] == (3, 16, 16)
        assert np.bincount(split.targets, minlength=3).tolist() == [len(split) // 3] * 3, "stratified"
        for position, index in enumerate(ds.split_indices(name)):
            label = split.targets[position]
            assert label == pets.labels[names[index]], "labels follow list.txt"
            colour = np.asarray(gen.COLOURS[label], np.float32) / 255
            assert np.abs(split.input[position].mean(axis=(1, 2)) - colour).max() < 0.05, (
                "pixels follow labels"
            )

    # a second dataset on the same root downloads nothing
    count = len(pets.server.requests)
    again = make("oxford-pets", **_params(root, pets, download=True))
    again.prepare()
    assert len(pets.server.requests) == count
    np.testing.assert_array_equal(again.split("test").input, splits["test"].input)


def test_an_interrupted_download_resumes(
    make: Callable[..., Any], pets: SimpleNamespace, tmp_path: Path
) -> None:
    root = tmp_path / "pets"
    half = len(pets.archives["images.tar.gz"]) // 2
    pets.server.cut_after["images.tar.gz"] = half
    make("oxford-pets", **_params(root, pets, download=True)).prepare()
    assert pets.server.requests_for("images.tar.gz") == [None, f"bytes={half}-"]
    assert (root / "images.tar.gz").read_bytes() == pets.archives["images.tar.gz"]
    assert not (root / "images.tar.gz.part").exists()


def test_a_checksum_mismatch_removes_the_file(
    make: Callable[..., Any], pets: SimpleNamespace, tmp_path: Path
) -> None:
    root = tmp_path / "pets"
    wrong = "sha256:" + "0" * 64
    checksums = {**pets.checksums, "images.tar.gz": wrong}
    ds = make("oxford-pets", **_params(root, pets, download=True, checksums=checksums))
    with pytest.raises(DatasetError) as err:
        ds.prepare()
    message = str(err.value)
    assert f"{pets.server.url}images.tar.gz" in message
    assert f"expected {wrong}" in message and f"got {pets.checksums['images.tar.gz']}" in message
    assert not (root / "images.tar.gz").exists() and not (root / "images.tar.gz.part").exists()


def test_the_official_md5s_apply_by_default(
    make: Callable[..., Any], pets: SimpleNamespace, tmp_path: Path
) -> None:
    """Generated archives are not the published ones: the default checksums must reject them."""
    params = _params(tmp_path / "pets", pets, download=True)
    del params["checksums"]
    with pytest.raises(DatasetError, match="expected md5:"):
        make("oxford-pets", **params).prepare()


def test_archives_put_in_root_by_hand_are_verified_and_extracted(
    make: Callable[..., Any], pets: SimpleNamespace, tmp_path: Path
) -> None:
    root = tmp_path / "pets"
    root.mkdir()
    for name, data in pets.archives.items():
        (root / name).write_bytes(data)
    ds = make("oxford-pets", **_params(root, pets))  # download stays false
    assert len(ds.class_names) == 3
    assert pets.server.requests == []
    bad = make("oxford-pets", **_params(tmp_path / "other", pets))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "images.tar.gz").write_bytes(b"not the archive")
    (tmp_path / "other" / "annotations.tar.gz").write_bytes(pets.archives["annotations.tar.gz"])
    with pytest.raises(DatasetError, match=r"images\.tar\.gz is corrupt or not the expected file"):
        bad.prepare()


def test_a_path_traversal_member_is_rejected(
    make: Callable[..., Any], pets: SimpleNamespace, gen: SimpleNamespace, tmp_path: Path
) -> None:
    evil = gen.tar_bytes({"images/ok.jpg": b"x", "../escaped.txt": b"owned"})
    pets.server.files["images.tar.gz"] = evil
    checksums = {**pets.checksums, "images.tar.gz": _sha256(evil)}
    root = tmp_path / "pets"
    ds = make("oxford-pets", **_params(root, pets, download=True, checksums=checksums))
    with pytest.raises(DatasetError, match=r"refusing to extract member '\.\./escaped\.txt'"):
        ds.prepare()
    assert not (tmp_path / "escaped.txt").exists()


def test_a_malformed_list_is_named(
    make: Callable[..., Any], pets: SimpleNamespace, gen: SimpleNamespace, tmp_path: Path
) -> None:
    root = tmp_path / "pets"
    (root / "annotations").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "annotations" / "list.txt").write_text("#comment\nAbyssinian_1 1 1 1\nBengal_2 x 1\n")
    with pytest.raises(DatasetError, match=r"list\.txt:3: expected 'Image CLASS-ID SPECIES BREED-ID'"):
        make("oxford-pets", **_params(root, pets)).prepare()
    (root / "annotations" / "list.txt").write_text("Abyssinian_1 1 1 1\n")
    with pytest.raises(
        DatasetError, match=r"Abyssinian_1\.jpg is listed in annotations/list\.txt but missing"
    ):
        make("oxford-pets", **_params(root, pets)).prepare()
