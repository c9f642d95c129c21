"""``coco``: object detection from a COCO-format instances JSON and its image folder.

The JSON needs ``images`` (``id``, ``file_name``, ``width``, ``height``), ``annotations`` (``id``,
``image_id``, ``category_id``, ``bbox`` = ``[x, y, width, height]`` in pixels, optional ``iscrowd``) and
``categories`` (``id``, ``name``). Class names are the category names sorted by id (or the ``categories``
parameter's subset, in its order); a box's label is its category's position in that list. Crowd
annotations become ``iscrowd`` regions that COCOeval neither rewards nor penalizes. Every image of the JSON
is a sample, with or without objects, in the order of the ``images`` list.

Images are found in ``images`` (default: the JSON's folder; for the official layout
``annotations/instances_<set>.json`` the folder ``<set>/`` beside ``annotations/``). Boxes may reach up to
1 pixel past the image border (they are clipped); beyond that, and for every other inconsistency (an
annotation of an unknown image or category, a missing image file, a malformed bbox), preparing the dataset
stops with a one-line UsageError naming the JSON, the annotation and the problem (exit 2).

Without ``annotations``, the official COCO 2017 validation set (5000 images, 80 categories) is used from
``root``; it is downloaded (``val2017.zip`` and ``annotations_trainval2017.zip``, about 1 GB, MD5-checked)
only with ``download=true``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import ParameterError, UsageError
from edgeai_datasets.download import (
    checksums_for,
    extract_zip,
    extraction_marker,
    fetch,
    join_url,
    missing_data_error,
    verify,
)
from edgeai_datasets.vision import Sample, VisionDataset, check_box

log = logging.getLogger(__name__)

#: The official archives (relative to the ``url`` base) and their MD5s.
ARCHIVES: dict[str, str | None] = {
    "zips/val2017.zip": "md5:442b8da7639aecaf257c1dceb8ba8c80",
    "annotations/annotations_trainval2017.zip": "md5:f4bbac642086de4f52a3fdda2de5fa2c",
}
#: What each archive leaves in root.
CONTENTS = {
    "zips/val2017.zip": "val2017",
    "annotations/annotations_trainval2017.zip": "annotations/instances_val2017.json",
}
SIZE = "about 1 GB"


def read_json(path: Path) -> dict[str, Any]:
    """The instances file as a dict with ``images``, ``annotations`` and ``categories`` lists."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise UsageError(f"dataset.annotations: {path} {what}; point it at a COCO instances JSON")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise UsageError(f"{path}: no '{key}' list; is this a COCO instances file?")
    return data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_instances(path: Path, images_dir: Path, subset: list[str] | None) -> tuple[list[Sample], list[str]]:
    """Samples (in the ``images`` order) and class names; a one-line UsageError for the first problem."""
    data = read_json(path)
    categories: dict[int, str] = {}
    for i, item in enumerate(data["categories"]):
        cid = _int(item.get("id")) if isinstance(item, dict) else None
        if cid is None or not isinstance(item.get("name"), str):
            raise UsageError(f"{path}: categories[{i}] needs an integer id and a name, got {item!r}")
        if cid in categories:
            raise UsageError(f"{path}: category id {cid} appears twice")
        categories[cid] = item["name"]
    by_name = {name: cid for cid, name in sorted(categories.items())}
    if subset is not None:
        unknown = [n for n in subset if n not in by_name]
        if unknown:
            known = ", ".join(list(by_name)[:12]) + (", ..." if len(by_name) > 12 else "")
            raise ParameterError(
                "dataset.categories", f"{path.name} has no category '{unknown[0]}' (it has {known})"
            )
        chosen = [by_name[n] for n in subset]
    else:
        chosen = sorted(categories)
    if not chosen:
        raise UsageError(f"{path}: the categories list is empty")
    label_of = {cid: k for k, cid in enumerate(chosen)}
    images: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(data["images"]):
        ok = isinstance(item, dict)
        iid = _int(item.get("id")) if ok else None
        width = _int(item.get("width")) if ok else None
        height = _int(item.get("height")) if ok else None
        if iid is None or not isinstance(item.get("file_name"), str) or not width or not height:
            raise UsageError(
                f"{path}: images[{i}] needs an integer id, a file_name and a positive width and height, "
                f"got {item!r}"
            )
        if width < 1 or height < 1:
            raise UsageError(f"{path}: image {iid} ({item['file_name']}) has size {width}x{height}")
        if iid in images:
            raise UsageError(f"{path}: image id {iid} appears twice in the images list")
        images[iid] = {
            "file": item["file_name"],
            "size": (width, height),
            "boxes": [],
            "labels": [],
            "crowd": [],
        }
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise UsageError(f"{path}: annotations[{i}] is not an object")
        aid = ann.get("id", f"#{i}")
        iid = ann.get("image_id")
        if iid not in images:
            raise UsageError(
                f"{path}: annotation {aid} refers to image id {iid!r}, which is not in the images list"
            )
        image = images[iid]
        item = f"{path}: annotation {aid} (image {iid} '{image['file']}')"
        cid = ann.get("category_id")
        if cid not in categories:
            raise UsageError(f"{item}: category_id {cid!r} is not in the categories list")
        if cid not in label_of:
            continue  # a category left out by the categories parameter
        bbox = ann.get("bbox")
        if (
            not isinstance(bbox, list)
            or len(bbox) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
        ):
            raise UsageError(f"{item}: malformed bbox {bbox!r}; need [x, y, width, height]")
        x, y, w, h = (float(v) for v in bbox)
        width, height = image["size"]
        box = check_box((x, y, x + w, y + h), width, height, item)
        if isinstance(box, str):
            problem = box.replace(
                f"box [{x:g}, {y:g}, {x + w:g}, {y + h:g}]", f"bbox [{x:g}, {y:g}, {w:g}, {h:g}] (xywh)"
            )
            raise UsageError(f"{item}: {problem}")
        image["boxes"].append(box)
        image["labels"].append(label_of[cid])
        image["crowd"].append(bool(ann.get("iscrowd", 0)))
    samples = []
    for iid, image in images.items():
        file = images_dir / image["file"]
        if not file.is_file():
            raise UsageError(f"{path}: image {iid}: the file '{image['file']}' is missing from {images_dir}")
        samples.append(
            Sample(
                image=file,
                where=f"{path}: image {iid} '{image['file']}'",
                size=image["size"],
                boxes=np.asarray(image["boxes"], np.float64).reshape(-1, 4),
                labels=np.asarray(image["labels"], np.int64),
                crowd=np.asarray(image["crowd"], bool),
                image_id=iid,
            )
        )
    return samples, [categories[cid] for cid in chosen]


def default_images(path: Path) -> Path:
    """The JSON's folder, or ``<set>/`` beside ``annotations/`` for ``annotations/instances_<set>.json``."""
    folder = path.parent
    if folder.name == "annotations" and path.stem.startswith("instances_"):
        official = folder.parent / path.stem.removeprefix("instances_")
        if official.is_dir():
            return official
    return folder


class Coco(VisionDataset):
    """A COCO instances JSON and its images; see the module documentation."""

    def _load(self) -> tuple[list[Sample], list[str], dict[str, list[int]] | None]:
        p = self.params
        if p["annotations"] is None:
            root = Path(p["root"]).expanduser()
            self._ensure_files(root)
            path = root / "annotations" / "instances_val2017.json"
            images = root / "val2017"
        else:
            path = Path(p["annotations"]).expanduser()
            images = Path(p["images"]).expanduser() if p["images"] is not None else default_images(path)
            if not images.is_dir():
                raise UsageError(f"dataset.images: {images} is not a folder; point it at the COCO images")
        subset = list(p["categories"]) if p["categories"] else None
        samples, names = parse_instances(path, images, subset)
        return samples, names, None

    def _ensure_files(self, root: Path) -> None:
        """Extract what is there; download what is missing if allowed; else say how to get it."""
        checksums = checksums_for(self.params["checksums"], ARCHIVES)
        missing = []
        for archive, content in CONTENTS.items():
            local = root / Path(archive).name
            if extraction_marker(local, root).exists() or (root / content).exists():
                continue
            if local.is_file():
                verify(local, checksums[archive])
                extract_zip(local, root, progress=self.context.progress)
            else:
                missing.append(archive)
        if not missing:
            return
        if not self.params["download"]:
            raise missing_data_error(
                self.name,
                root,
                [Path(a).name for a in missing],
                [Path(a).name for a in ARCHIVES],
                SIZE,
                note=" (or set dataset.annotations to your own COCO-format JSON)",
            )
        for archive in missing:
            local = fetch(
                join_url(self.params["url"], archive),
                root / Path(archive).name,
                checksum=checksums[archive],
                progress=self.context.progress,
            )
            extract_zip(local, root, progress=self.context.progress)
