"""``voc`` and ``voc-segmentation``: a generated VOCdevkit-style folder (XML, JPEG, palette PNG masks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from edgeai_core.api import UsageError
from edgeai_datasets.voc import VOC_CLASSES

DOG, PERSON, CAT, CAR = (VOC_CLASSES.index(n) for n in ("dog", "person", "cat", "car"))

#: id -> (width, height, objects as (name, xmin, ymin, xmax, ymax, difficult))
IMAGES: dict[str, tuple[int, int, list[tuple[str, int, int, int, int, int]]]] = {
    "2007_000001": (40, 20, [("dog", 5, 3, 14, 12, 0), ("person", 21, 1, 40, 20, 1)]),
    "2007_000002": (20, 30, [("cat", 1, 1, 20, 30, 0)]),
    "2007_000003": (30, 30, [("car", 2, 2, 10, 10, 0)]),
    "2007_000004": (30, 30, [("car", 12, 12, 30, 30, 0)]),
}


def _xml(image_id: str, width: int, height: int, objects: list[tuple[str, int, int, int, int, int]]) -> str:
    parts = [
        f"<annotation><folder>VOC2007</folder><filename>{image_id}.jpg</filename>"
        f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
    ]
    for name, x0, y0, x1, y1, difficult in objects:
        parts.append(
            f"<object><name>{name}</name><pose>Left</pose><truncated>0</truncated>"
            f"<difficult>{difficult}</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


def palette_png(values: np.ndarray, path: Path) -> None:
    image = Image.frombytes("P", (values.shape[1], values.shape[0]), values.astype(np.uint8).tobytes())
    image.putpalette([(i * 37) % 256 for i in range(256 * 3)])
    image.save(path)


def _mask(image_id: str) -> np.ndarray:
    width, height, objects = IMAGES[image_id]
    mask = np.zeros((height, width), np.uint8)
    for name, x0, y0, x1, y1, _ in objects:
        mask[y0 - 1 : y1, x0 - 1 : x1] = VOC_CLASSES.index(name) + 1  # background is class 0
    mask[0, :] = 255  # a boundary row, ignored
    return mask


def _voc(root: Path, image_sets: bool = False) -> Path:
    for folder in ("Annotations", "JPEGImages", "SegmentationClass"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for image_id, (width, height, objects) in IMAGES.items():
        (root / "Annotations" / f"{image_id}.xml").write_text(_xml(image_id, width, height, objects))
        Image.new("RGB", (width, height), (200, 100, 50)).save(root / "JPEGImages" / f"{image_id}.jpg")
        palette_png(_mask(image_id), root / "SegmentationClass" / f"{image_id}.png")
    if image_sets:
        for kind in ("Main", "Segmentation"):
            (root / "ImageSets" / kind).mkdir(parents=True)
            (root / "ImageSets" / kind / "train.txt").write_text("2007_000001\n2007_000002\n2007_000003\n")
            (root / "ImageSets" / kind / "val.txt").write_text("2007_000004\n")
    return root


def _targets(ds: Any) -> dict[str, Any]:
    found = {}
    for name in ("train", "validation", "test"):
        split = ds.split(name)
        for index, target in zip(ds.split_indices(name), split.targets, strict=True):
            found[sorted(IMAGES)[index]] = target
    return found


def test_voc_boxes_classes_and_difficult_objects(make: Callable[..., Any], tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOC2007")
    ds = make("voc", root=str(root), image_size=20)
    assert ds.task == "detection" and ds.class_names == list(VOC_CLASSES)
    targets = _targets(ds)
    first = targets["2007_000001"]  # 40x20 -> 20x10; VOC's 1-based [5, 3, 14, 12] is [4, 2, 14, 12]
    assert first.image_size == (20, 20)
    assert first.boxes.tolist() == [[2, 1, 7, 6], [10, 0, 20, 10]]
    assert first.labels.tolist() == [DOG, PERSON]
    assert first.iscrowd.tolist() == [False, True]  # difficult: an ignored region
    second = targets["2007_000002"]  # 20x30 -> 13x20
    assert second.boxes == pytest.approx(np.array([[0, 0, 13, 20]]))
    assert second.labels.tolist() == [CAT]
    counted = make("voc", root=str(root), image_size=20, include_difficult=True)
    assert _targets(counted)["2007_000001"].iscrowd.tolist() == [False, False]


def test_voc_class_subset_skips_other_objects(make: Callable[..., Any], tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOC2007")
    ds = make("voc", root=str(root), image_size=20, classes=["cat", "dog"])
    targets = _targets(ds)
    assert ds.class_names == ["cat", "dog"]
    assert targets["2007_000001"].labels.tolist() == [1]  # the person is skipped
    assert len(targets["2007_000003"]) == 0


def test_image_sets_give_the_test_split(make: Callable[..., Any], tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOC2007", image_sets=True)
    ds = make("voc", root=str(root), image_size=20, validation_fraction=0.0)
    assert len(ds.split("test")) == 1 and len(ds.split("train")) == 3
    assert ds.split("test").targets[0].labels.tolist() == [CAR]
    assert ds.split("test").targets[0].boxes.tolist() == [[(11 * 20 / 30), (11 * 20 / 30), 20, 20]]
    ignored = make("voc", root=str(root), image_sets=False, test_fraction=0.5, validation_fraction=0.0)
    assert len(ignored.split("test")) == 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("<name>dog</name>", "<name>unicorn</name>"),
            "2007_000001.xml: object 0 has class 'unicorn', not one of the 20 classes",
        ),
        (
            lambda t: t.replace("<xmax>14</xmax>", "<xmax>50</xmax>"),
            "2007_000001.xml: object 0 (dog): box [4, 2, 50, 12] lies outside the 40x20 image",
        ),
        (
            lambda t: t.replace("<xmin>5</xmin>", "<xmin>20</xmin>"),
            "2007_000001.xml: object 0 (dog): box [19, 2, 14, 12] is empty or inverted",
        ),
        (
            lambda t: t.replace("<ymin>3</ymin>", "<ymin>three</ymin>"),
            "2007_000001.xml: object 0 (dog): bndbox needs numeric xmin, ymin, xmax and ymax",
        ),
        (lambda t: t.replace("</annotation>", ""), "2007_000001.xml: not valid XML (no element found"),
    ],
)
def test_bad_voc_annotations_are_one_line_errors(
    make: Callable[..., Any], tmp_path: Path, edit: Callable[[str], str], message: str
) -> None:
    root = _voc(tmp_path / "VOC2007")
    xml = root / "Annotations" / "2007_000001.xml"
    xml.write_text(edit(xml.read_text()))
    with pytest.raises(UsageError) as info:
        make("voc", root=str(root)).prepare()
    assert "\n" not in str(info.value) and message in str(info.value)
    assert str(info.value).startswith(str(xml))


def test_a_missing_voc_image_is_named(make: Callable[..., Any], tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOC2007")
    (root / "JPEGImages" / "2007_000003.jpg").unlink()
    with pytest.raises(UsageError, match=r"2007_000003\.xml: the image '2007_000003\.jpg' is missing from"):
        make("voc", root=str(root)).prepare()
    with pytest.raises(UsageError, match=r"dataset.root: .*nowhere does not exist; point it at a VOC folder"):
        make("voc", root=str(tmp_path / "nowhere")).prepare()


# -- segmentation --------------------------------------------------------------------------------------------


def test_masks_are_resized_nearest_and_padded_with_the_ignore_value(
    make: Callable[..., Any], tmp_path: Path
) -> None:
    root = _voc(tmp_path / "VOC2007")
    ds = make("voc-segmentation", root=str(root), image_size=20)
    assert ds.task == "segmentation" and ds.class_names == ["background", *VOC_CLASSES]
    masks = _targets(ds)
    first = masks["2007_000001"]
    assert first.shape == (20, 20) and first.dtype == np.uint8
    reference = np.asarray(Image.fromarray(_mask("2007_000001")).resize((20, 10), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(first[:10], reference)
    assert (first[10:] == 255).all()  # letterbox padding is ignored
    # halving samples odd source rows: the boundary row 0 drops out
    assert set(np.unique(first[:10]).tolist()) == {0, DOG + 1, PERSON + 1}
    split = ds.split("train")
    perfect = np.where(split.targets == 255, 0, split.targets).astype(np.int64)
    m = ds.evaluate(perfect, split.targets)
    assert m["miou"] == 1.0 and m["pixel_accuracy"] == 1.0 and m["num_classes"] == 21


def test_bad_masks_are_one_line_errors(make: Callable[..., Any], tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOC2007")
    mask = root / "SegmentationClass" / "2007_000001.png"
    cases = [
        (
            lambda: palette_png(np.zeros((10, 40)), mask),
            "the mask is 40x10 but its image 2007_000001.jpg is 40x20",
        ),
        (
            lambda: palette_png(np.full((20, 40), 30), mask),
            "pixel (0, 0) has class 30, outside the 21 classes",
        ),
        (lambda: Image.new("RGB", (40, 20)).save(mask), "the mask is a RGB image; it must be a palette (P)"),
    ]
    for write, message in cases:
        write()
        ds = make("voc-segmentation", root=str(root), test_fraction=0.0, validation_fraction=0.0)
        with pytest.raises(UsageError) as info:
            ds.split("train")
        assert str(info.value).startswith(str(mask)) and message in str(info.value)
    listed = _voc(
        tmp_path / "listed", image_sets=True
    )  # ImageSets/Segmentation names an image without a mask
    (listed / "SegmentationClass" / "2007_000001.png").unlink()
    with pytest.raises(
        UsageError, match=r"image '2007_000001': SegmentationClass/2007_000001\.png is missing"
    ):
        make("voc-segmentation", root=str(listed)).prepare()
