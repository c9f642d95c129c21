"""``voc`` and ``voc-segmentation``: Pascal VOC folders (``VOCdevkit/VOC2012`` layout).

``root`` is the folder holding ``Annotations/*.xml``, ``JPEGImages/*.jpg``, ``SegmentationClass/*.png`` and
optionally ``ImageSets/Main/{train,val}.txt`` (detection) and ``ImageSets/Segmentation/{train,val}.txt``
(segmentation). With both list files present (and ``image_sets = true``), ``val`` is the test split and the
validation split is drawn from ``train`` by ``validation_fraction``; otherwise every image is a sample and the
splits are drawn by the fractions.

Detection (``voc``): one XML per image (``filename``, ``size/width``, ``size/height``, ``object`` with
``name``, ``difficult`` and ``bndbox`` ``xmin ymin xmax ymax``, VOC's 1-based inclusive pixels, read as
``[xmin - 1, ymin - 1, xmax, ymax]``). ``difficult`` objects are crowd-like regions that the metrics ignore
unless ``include_difficult = true``. Classes: the 20 VOC classes, or the ``classes`` parameter; an object of
another class is an error with the default classes and is skipped with an explicit ``classes`` list.

Segmentation (``voc-segmentation``): ``SegmentationClass/<id>.png`` palette PNGs whose pixel values are class
indices (0 = background, 255 = boundary, ignored); classes ``background`` plus the 20 VOC classes by default.
A mask must have its image's size.

Every problem (malformed XML, a missing image, an unknown class, a box outside the image, a mask of the wrong
size) is a one-line UsageError naming the file, the item and the problem (exit 2).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from edgeai_core.api import UsageError
from edgeai_datasets.vision import Sample, VisionDataset, check_box

#: The 20 Pascal VOC object classes, in the official order.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


def _root(value: str) -> Path:
    root = Path(value).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise UsageError(
            f"dataset.root: {root} {what}; point it at a VOC folder (e.g. VOCdevkit/VOC2012) with "
            "Annotations/ and JPEGImages/"
        )
    return root


def _read_ids(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def official_ids(root: Path, kind: str, use: bool) -> tuple[list[str], dict[str, list[int]] | None] | None:
    """``(ids, {"train": positions, "test": positions})`` from ImageSets/<kind>/{train,val}.txt, or None."""
    folder = root / "ImageSets" / kind
    if not use or not (folder / "train.txt").is_file() or not (folder / "val.txt").is_file():
        return None
    train, val = _read_ids(folder / "train.txt"), _read_ids(folder / "val.txt")
    ids = train + [i for i in val if i not in set(train)]
    return ids, {"train": list(range(len(train))), "test": list(range(len(train), len(ids)))}


def _text(node: ElementTree.Element, tag: str) -> str | None:
    found = node.find(tag)
    return found.text.strip() if found is not None and found.text is not None else None


def parse_annotation(
    path: Path, images: Path, label_of: dict[str, int], strict: bool, include_difficult: bool
) -> Sample:
    """One ``Annotations/<id>.xml`` as a Sample; a one-line UsageError for the first problem."""
    try:
        tree = ElementTree.parse(path)
    except ElementTree.ParseError as exc:
        raise UsageError(f"{path}: not valid XML ({exc})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc})") from None
    node = tree.getroot()
    filename = _text(node, "filename") or f"{path.stem}.jpg"
    image = images / filename
    if not image.is_file():
        raise UsageError(f"{path}: the image '{filename}' is missing from {images}")
    width, height = _text(node, "size/width"), _text(node, "size/height")
    if width is None or height is None or not width.isdigit() or not height.isdigit():
        from PIL import Image

        try:
            with Image.open(image) as picture:
                size = picture.size
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: cannot read its image {image} ({exc})") from None
    else:
        size = (int(width), int(height))
    boxes, labels, crowd = [], [], []
    for j, obj in enumerate(node.iter("object")):
        name = _text(obj, "name")
        item = f"{path}: object {j} ({name})"
        if name not in label_of:
            if strict:
                raise UsageError(
                    f"{path}: object {j} has class {name!r}, not one of the {len(label_of)} classes; set "
                    "dataset.classes to the classes you want (objects of other classes are then skipped)"
                )
            continue
        difficult = _text(obj, "difficult") == "1"
        values = [_text(obj, f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
        try:
            xmin, ymin, xmax, ymax = (float(v) for v in values)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UsageError(
                f"{item}: bndbox needs numeric xmin, ymin, xmax and ymax, got {values}"
            ) from None
        box = check_box((xmin - 1, ymin - 1, xmax, ymax), size[0], size[1], item)
        if isinstance(box, str):
            raise UsageError(f"{item}: {box}")
        boxes.append(box)
        labels.append(label_of[name])
        crowd.append(difficult and not include_difficult)
    return Sample(
        image=image,
        where=f"{path}",
        size=size,
        boxes=np.asarray(boxes, np.float64).reshape(-1, 4),
        labels=np.asarray(labels, np.int64),
        crowd=np.asarray(crowd, bool),
    )


class Voc(VisionDataset):
    """Pascal VOC detection from XML annotations; see the module documentation."""

    def _load(self) -> tuple[list[Sample], list[str], dict[str, list[int]] | None]:
        p = self.params
        root = _root(p["root"])
        names = list(p["classes"]) if p["classes"] else list(VOC_CLASSES)
        label_of = {name: k for k, name in enumerate(names)}
        annotations, images = root / "Annotations", root / "JPEGImages"
        for folder in (annotations, images):
            if not folder.is_dir():
                raise UsageError(f"dataset.root: {root} has no {folder.name}/ folder; is it a VOC folder?")
        found = official_ids(root, "Main", p["image_sets"])
        if found is None:
            ids, official = sorted(f.stem for f in annotations.glob("*.xml")), None
        else:
            ids, official = found
        samples = []
        for image_id in ids:
            xml = annotations / f"{image_id}.xml"
            if not xml.is_file():
                raise UsageError(f"{root / 'ImageSets' / 'Main'}: image '{image_id}' has no {xml}")
            samples.append(
                parse_annotation(xml, images, label_of, not p["classes"], bool(p["include_difficult"]))
            )
        return samples, names, official


class VocSegmentation(VisionDataset):
    """Pascal VOC semantic segmentation from palette PNG masks; see the module documentation."""

    def _load(self) -> tuple[list[Sample], list[str], dict[str, list[int]] | None]:
        from PIL import Image

        p = self.params
        root = _root(p["root"])
        names = list(p["classes"]) if p["classes"] else ["background", *VOC_CLASSES]
        masks, images = root / "SegmentationClass", root / "JPEGImages"
        for folder in (masks, images):
            if not folder.is_dir():
                raise UsageError(f"dataset.root: {root} has no {folder.name}/ folder; is it a VOC folder?")
        found = official_ids(root, "Segmentation", p["image_sets"])
        if found is None:
            ids, official = sorted(f.stem for f in masks.glob("*.png")), None
        else:
            ids, official = found
        samples = []
        for image_id in ids:
            mask, image = masks / f"{image_id}.png", images / f"{image_id}.jpg"
            for file in (mask, image):
                if not file.is_file():
                    raise UsageError(f"{root}: image '{image_id}': {file.parent.name}/{file.name} is missing")
            try:
                with Image.open(image) as picture:
                    size = picture.size
            except (OSError, ValueError) as exc:
                raise UsageError(f"{image}: cannot read this image ({exc})") from None
            samples.append(Sample(image=image, where=str(image), size=size, mask=mask))
        return samples, names, official
