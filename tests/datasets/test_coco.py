"""``coco``: generated COCO instances JSON and images (PNG and JPEG) in tmp_path; the official download is
never fetched here (only its error without download=true)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from edgeai_core.api import BoxTargets, Detections, ParameterError, UsageError
from edgeai_core.errors import DatasetError

pytest.importorskip("pycocotools")

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)

INSTANCES: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
        {"id": 2, "file_name": "b.jpg", "width": 32, "height": 80},
        {"id": 3, "file_name": "c.png", "width": 50, "height": 50},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [8, 4, 16, 20], "area": 320, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [30, 10, 20, 30], "area": 600, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 7, "bbox": [0, 0, 32, 40], "area": 1280, "iscrowd": 0},
        {"id": 4, "image_id": 2, "category_id": 1, "bbox": [4, 50, 10, 10], "area": 100, "iscrowd": 1},
    ],
    # category ids are not contiguous and not in order: labels follow the sorted ids
    "categories": [{"id": 7, "name": "bird"}, {"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
}


def _write(root: Path, instances: dict[str, Any] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), RED).save(root / "a.png")
    Image.new("RGB", (32, 80), GREEN).save(root / "b.jpg", quality=95)
    Image.new("RGB", (50, 50), BLUE).save(root / "c.png")
    path = root / "instances.json"
    path.write_text(json.dumps(INSTANCES if instances is None else instances))
    return path


def _by_id(ds: Any) -> dict[int, BoxTargets]:
    found = {}
    for name in ("train", "validation", "test"):
        for target in ds.split(name).targets:
            found[target.image_id] = target
    return found


def test_boxes_are_scaled_to_the_letterboxed_image(make: Callable[..., Any], tmp_path: Path) -> None:
    path = _write(tmp_path / "coco")
    ds = make("coco", annotations=str(path), image_size=32)
    assert ds.task == "detection"
    assert ds.class_names == ["cat", "dog", "bird"]  # ids 1, 3, 7
    targets = _by_id(ds)
    assert sorted(targets) == [1, 2, 3]
    a = targets[1]  # 64x48 -> 32x24: every coordinate halves
    assert a.image_size == (32, 32)
    assert a.boxes.tolist() == [[4, 2, 12, 12], [15, 5, 25, 20]]
    assert a.labels.tolist() == [0, 1] and a.iscrowd.tolist() == [False, False]
    b = targets[2]  # 32x80 -> 13x32 (x by 13/32, y by 0.4)
    assert b.boxes == pytest.approx(np.array([[0, 0, 13, 16], [4 * 13 / 32, 20, 14 * 13 / 32, 24]]))
    assert b.labels.tolist() == [2, 0] and b.iscrowd.tolist() == [False, True]
    assert len(targets[3]) == 0  # an image without objects is still a sample
    split = ds.split("train")
    assert split.input.shape[1:] == (3, 32, 32) and split.input.dtype == np.float32


def test_preview_is_the_fed_image_and_the_inputs_match_it(make: Callable[..., Any], tmp_path: Path) -> None:
    path = _write(tmp_path / "coco")
    ds = make("coco", annotations=str(path), image_size=32, layout="NHWC")
    for name in ("train", "validation", "test"):
        split = ds.split(name)
        for index, target in enumerate(split.targets):
            shown = ds.preview(name, index)
            assert shown.shape == (32, 32, 3) and shown.dtype == np.uint8
            np.testing.assert_array_equal(split.input[index], shown.astype(np.float32) / 255)
            if target.image_id == 1:  # red 32x24 on top, black padding below
                assert (shown[:24] == RED).all() and (shown[24:] == 0).all()


def test_stretch_scales_each_axis(make: Callable[..., Any], tmp_path: Path) -> None:
    path = _write(tmp_path / "coco")
    ds = make("coco", annotations=str(path), image_size=32, resize="stretch")
    a = _by_id(ds)[1]  # 64x48 -> 32x32: x by 0.5, y by 2/3
    assert a.boxes == pytest.approx(np.array([[4, 8 / 3, 12, 16], [15, 20 / 3, 25, 80 / 3]]))


def test_a_category_subset_sets_the_labels(make: Callable[..., Any], tmp_path: Path) -> None:
    path = _write(tmp_path / "coco")
    ds = make("coco", annotations=str(path), image_size=32, categories=["dog", "cat"])
    assert ds.class_names == ["dog", "cat"]
    targets = _by_id(ds)
    assert targets[1].labels.tolist() == [1, 0]
    assert targets[2].labels.tolist() == [1]  # the bird is dropped, the crowd cat stays
    with pytest.raises(
        ParameterError, match=r"dataset.categories.*has no category 'horse' \(it has cat, dog, bird\)"
    ):
        make("coco", annotations=str(path), categories=["horse"]).prepare()


def test_official_layout_finds_the_images_beside_annotations(
    make: Callable[..., Any], tmp_path: Path
) -> None:
    _write(tmp_path / "root" / "val2017")
    (tmp_path / "root" / "annotations").mkdir()
    path = tmp_path / "root" / "annotations" / "instances_val2017.json"
    path.write_text(json.dumps(INSTANCES))
    ds = make("coco", annotations=str(path), image_size=16)
    assert len(ds.split("train")) + len(ds.split("validation")) + len(ds.split("test")) == 3


def test_evaluate_uses_the_class_names(make: Callable[..., Any], tmp_path: Path) -> None:
    path = _write(tmp_path / "coco")
    ds = make("coco", annotations=str(path), image_size=32, test_fraction=0.0, validation_fraction=0.0)
    split = ds.split("train")
    perfect = [
        Detections(t.boxes[~t.iscrowd], np.ones(int((~t.iscrowd).sum())), t.labels[~t.iscrowd])
        for t in split.targets
    ]
    m = ds.evaluate(perfect, split.targets)
    assert m["class_names"] == ["cat", "dog", "bird"] and m["map"] == pytest.approx(1.0)
    assert m["per_class"]["support"] == [1, 1, 1]


def _broken(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    instances = copy.deepcopy(INSTANCES)
    change(instances)
    return _write(tmp_path / "coco", instances)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["annotations"].append(
                {"id": 5, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]}
            ),
            "instances.json: annotation 5 refers to image id 99, which is not in the images list",
        ),
        (
            lambda d: d["annotations"][0].update(bbox=[8, 4, 60, 20]),
            "instances.json: annotation 1 (image 1 'a.png'): bbox [8, 4, 60, 20] (xywh) lies outside the 64x48 image",
        ),
        (
            lambda d: d["annotations"][1].update(bbox=[30, 10, 0, 30]),
            "instances.json: annotation 2 (image 1 'a.png'): bbox [30, 10, 0, 30] (xywh) is empty or inverted",
        ),
        (
            lambda d: d["annotations"][1].update(category_id=5),
            "instances.json: annotation 2 (image 1 'a.png'): category_id 5 is not in the categories list",
        ),
        (
            lambda d: d["annotations"][2].update(bbox=[0, 0, "wide"]),
            "instances.json: annotation 3 (image 2 'b.jpg'): malformed bbox [0, 0, 'wide']",
        ),
        (
            lambda d: d["images"][2].update(file_name="gone.png"),
            "instances.json: image 3: the file 'gone.png' is missing from",
        ),
        (
            lambda d: d.pop("categories"),
            "instances.json: no 'categories' list; is this a COCO instances file?",
        ),
    ],
)
def test_bad_annotations_are_one_line_errors(
    make: Callable[..., Any], tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(UsageError) as info:
        make("coco", annotations=str(path)).prepare()
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path.parent)) and message in text


def test_not_json_and_a_wrong_image_size(make: Callable[..., Any], tmp_path: Path) -> None:
    path = _write(tmp_path / "coco")
    path.write_text("images: [a.png]\n")
    with pytest.raises(
        UsageError, match=r"instances\.json: not valid JSON \(Expecting value at line 1, column 1\)"
    ):
        make("coco", annotations=str(path)).prepare()
    path = _broken(tmp_path / "other", lambda d: d["images"][0].update(width=60))
    ds = make("coco", annotations=str(path), test_fraction=0.0, validation_fraction=0.0)
    with pytest.raises(
        UsageError, match=r"image 1 'a\.png': the image file a\.png is 64x48 but the annotations say 60x48"
    ):
        ds.split("train")


def test_the_official_set_is_not_downloaded_without_opt_in(make: Callable[..., Any], tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        make("coco", root=str(tmp_path / "nothing")).prepare()
    assert str(info.value) == (
        f"coco: no data in {tmp_path / 'nothing'}; pass --set dataset.download=true (about 1 GB) or put "
        "val2017.zip and annotations_trainval2017.zip there (or set dataset.annotations to your own "
        "COCO-format JSON)"
    )


def test_the_cli_exits_2_with_one_line(host: Any, tmp_path: Path) -> None:
    from edgeai_core.cli import cli

    path = _broken(tmp_path, lambda d: d["annotations"][1].update(category_id=5))
    model = tmp_path / "model.npz"  # never loaded: planning reads only the sidecar's format
    model.write_bytes(b"")
    (tmp_path / "model.npz.edgeai.json").write_text(json.dumps({"format": "npz-mlp"}))
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps(
            {
                "dataset": {"name": "coco", "annotations": str(path), "image_size": 16},
                # a model of any task; the dataset is prepared (and refused) before the model is loaded
                "model": {"name": "artifact-file", "path": str(model)},
                "runtime": {"name": "numpy"},
            }
        )
    )
    result = CliRunner().invoke(cli, ["run", str(config), "-o", str(tmp_path / "out")], obj={"host": host})
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert (
        "instances.json: annotation 2 (image 1 'a.png'): category_id 5 is not in the categories list"
        in errors[0]
    )


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def test_opt_in_download_from_a_local_mirror(make: Callable[..., Any], server: Any, tmp_path: Path) -> None:
    """The official layout, served from 127.0.0.1 as the two zips (generated, so no checksums)."""
    source = _write(tmp_path / "source").parent
    images = {f"val2017/{n}": (source / n).read_bytes() for n in ("a.png", "b.jpg", "c.png")}
    server.files["zips/val2017.zip"] = _zip(images)
    server.files["annotations/annotations_trainval2017.zip"] = _zip(
        {"annotations/instances_val2017.json": source.joinpath("instances.json").read_bytes()}
    )
    root = tmp_path / "coco"
    ds = make("coco", root=str(root), download=True, url=server.url, checksums={}, image_size=16)
    assert ds.class_names == ["cat", "dog", "bird"]
    assert sum(len(ds.split(n)) for n in ("train", "validation", "test")) == 3
    assert (root / "val2017" / "a.png").is_file() and (root / ".val2017.zip.extracted").is_file()
    assert sorted(path for path, _ in server.requests) == [
        "/annotations/annotations_trainval2017.zip",
        "/zips/val2017.zip",
    ]
    make("coco", root=str(root), image_size=16).prepare()  # a second run finds the extracted files
    assert len(server.requests) == 2


def test_unsafe_zip_members_are_refused(tmp_path: Path) -> None:
    from edgeai_datasets.download import extract_zip

    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip({"fine.txt": b"ok", "../escape.txt": b"no"}))
    with pytest.raises(
        DatasetError, match=r"evil\.zip: refusing to extract member '\.\./escape\.txt' \(path with '\.\.'\)"
    ):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "out" / ".evil.zip.extracted").exists()
