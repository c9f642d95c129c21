"""``image-folder``: generated PNG/JPEG/GIF/BMP/WebP images in class folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from edgeai_core.components import SPLITS
from edgeai_core.errors import DatasetError

CLASSES = ("cherry", "apple", "blueberry")  # sorted: apple, blueberry, cherry
COLOUR_OF = {"cherry": 0, "apple": 1, "blueberry": 2}  # index into gen.COLOURS: red, green, blue


def _folder(root: Path, gen: SimpleNamespace, per_class: int = 10) -> Path:
    formats = [("png", "PNG"), ("jpg", "JPEG"), ("JPEG", "JPEG"), ("bmp", "BMP"), ("webp", "WEBP")]
    for name in CLASSES:
        folder = root / name
        folder.mkdir(parents=True)
        colour = gen.COLOURS[COLOUR_OF[name]]
        for i in range(per_class):
            ext, fmt = formats[i % len(formats)]
            image = gen.noisy_image(colour, (20 + 3 * i, 16 + 2 * i), seed=i)
            image.save(folder / f"img{i:02d}.{ext}", fmt)
        # a palette GIF and a grayscale PNG must be converted too
        gen.noisy_image(colour, (24, 24), seed=99).convert("P").save(folder / "palette.gif")
        (folder / "notes.txt").write_text("not an image, not a sample")
    (root / ".hidden").mkdir()
    return root


def test_loads_classes_labels_and_shapes(
    make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path
) -> None:
    root = _folder(tmp_path / "fruit", gen)
    ds = make("image-folder", root=str(root), image_size=12, validation_fraction=0.2, test_fraction=0.2)
    assert ds.class_names == ["apple", "blueberry", "cherry"]
    splits = {name: ds.split(name) for name in SPLITS}
    assert sum(len(s) for s in splits.values()) == 33
    for split in splits.values():
        assert split.input.shape[1:] == (3, 12, 12) and split.input.dtype == np.float32
        assert np.bincount(split.targets, minlength=3).min() >= 2, "every class in every split"
        # the dominant colour channel of each image says its class
        channel_means = split.input.mean(axis=(2, 3))
        for mean, label in zip(channel_means, split.targets, strict=True):
            assert int(np.argmax(mean)) == COLOUR_OF[ds.class_names[label]]


def test_grayscale_nhwc_and_resizing(make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path) -> None:
    root = _folder(tmp_path / "fruit", gen, per_class=5)
    gray = make("image-folder", root=str(root), image_size=20, channels=1, layout="NHWC").split("train")
    assert gray.input.shape[1:] == (20, 20, 1)
    # Pillow's luma of the class colour: red 0.299 * 220, green 0.587 * 200, blue 0.114 * 210 (plus noise)
    order = ["apple", "blueberry", "cherry"]
    expected = {"apple": (0.299 * 30 + 0.587 * 200 + 0.114 * 40) / 255}
    apple = gray.input[gray.targets == order.index("apple")]
    assert abs(float(apple.mean()) - expected["apple"]) < 0.03
    # one file checked against Pillow directly
    ds = make("image-folder", root=str(root), image_size=20)
    first = ds.split("test")
    path = ds._paths[ds.split_indices("test")[0]]
    with Image.open(path) as image:
        reference = (
            np.asarray(image.convert("RGB").resize((20, 20), Image.Resampling.BILINEAR), np.float32) / 255
        )
    np.testing.assert_array_equal(first.input[0], reference.transpose(2, 0, 1))


def test_a_corrupt_image_is_named(make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path) -> None:
    root = _folder(tmp_path / "fruit", gen, per_class=4)
    broken = root / "apple" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing sensible")
    ds = make("image-folder", root=str(root), image_size=8)
    with pytest.raises(DatasetError, match=r"broken\.png: cannot read this image"):
        for name in SPLITS:
            ds.split(name)


def test_a_truncated_jpeg_is_named(make: Callable[..., Any], gen: SimpleNamespace, tmp_path: Path) -> None:
    root = _folder(tmp_path / "fruit", gen, per_class=4)
    good = (root / "cherry" / "img01.jpg").read_bytes()
    (root / "cherry" / "cut.jpg").write_bytes(good[: len(good) // 2])
    ds = make("image-folder", root=str(root), image_size=8)
    with pytest.raises(DatasetError, match=r"cut\.jpg: cannot read this image"):
        for name in SPLITS:
            ds.split(name)


def test_missing_or_empty_folders_are_named(make: Callable[..., Any], tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=rf"dataset\.root: {tmp_path / 'nowhere'} does not exist"):
        make("image-folder", root=str(tmp_path / "nowhere")).prepare()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=rf"{empty} has no class subfolders"):
        make("image-folder", root=str(empty)).prepare()
    (empty / "cats").mkdir()
    (empty / "cats" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match=rf"{empty / 'cats'} holds no images"):
        make("image-folder", root=str(empty)).prepare()


def test_root_is_required(make: Callable[..., Any]) -> None:
    from edgeai_core.errors import ParameterError

    with pytest.raises(ParameterError, match=r"dataset\.root: is required"):
        make("image-folder")
