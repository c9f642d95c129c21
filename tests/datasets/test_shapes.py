"""The ``shapes`` generators: exact boxes and masks, determinism, splits, previews and bad parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from edgeai_core.api import BoxTargets, DatasetError, check_box_targets, check_masks


def test_boxes_are_the_exact_extent_of_the_mask_pixels(make: Callable[..., Any]) -> None:
    boxes = make("shapes", samples=60, seed=3)
    masks = make("shapes-segmentation", samples=60, seed=3)
    boxes.prepare()
    masks.prepare()
    for name in ("train", "validation", "test"):
        detection, segmentation = boxes.split(name), masks.split(name)
        assert np.array_equal(detection.input, segmentation.input)  # the same images
        check_box_targets(detection.targets, 3, "shapes")
        check_masks(segmentation.targets, 4, "shapes-segmentation")
        for target, mask in zip(detection.targets, segmentation.targets, strict=True):
            assert isinstance(target, BoxTargets) and 1 <= len(target) <= 3
            assert target.image_size == (64, 64)
            seen = np.zeros_like(mask, dtype=bool)
            for (x0, y0, x1, y1), label in zip(target.boxes.astype(int), target.labels, strict=True):
                inside = mask[y0:y1, x0:x1] == label + 1
                ys, xs = np.nonzero(inside)  # the class's pixels in the box touch all four sides
                assert (ys.min(), xs.min(), ys.max(), xs.max()) == (0, 0, y1 - y0 - 1, x1 - x0 - 1)
                seen[y0:y1, x0:x1] |= inside
            assert np.array_equal(seen, mask > 0)  # every shape pixel belongs to exactly one box


def test_same_seed_same_data_and_splits_partition_the_samples(make: Callable[..., Any]) -> None:
    a, b, c = (
        make("shapes", samples=50, seed=1),
        make("shapes", samples=50, seed=1),
        make("shapes", samples=50, seed=2),
    )
    assert np.array_equal(a.split("test").input, b.split("test").input)
    assert not np.array_equal(a.split("test").input, c.split("test").input)
    sizes = [len(a.split(name)) for name in ("train", "validation", "test")]
    assert sizes == [35, 5, 10]
    x = a.split("train").input
    assert x.shape == (35, 3, 64, 64) and x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    nhwc = make("shapes", samples=50, seed=1, layout="NHWC").split("train").input
    assert np.array_equal(nhwc, x.transpose(0, 2, 3, 1))
    preview = a.preview("test", 2)
    assert preview.dtype == np.uint8 and preview.shape == (64, 64, 3)
    assert np.allclose(preview.transpose(2, 0, 1) / 255.0, a.split("test").input[2], atol=1e-6)


def test_every_class_appears_with_sizes_in_the_requested_range(make: Callable[..., Any]) -> None:
    data = make("shapes", samples=200, seed=0, min_size=8, max_size=16)
    targets = list(data.split("train").targets)
    labels = np.concatenate([t.labels for t in targets])
    assert set(labels.tolist()) == {0, 1, 2}
    sides = np.concatenate(
        [np.maximum(t.boxes[:, 2] - t.boxes[:, 0], t.boxes[:, 3] - t.boxes[:, 1]) for t in targets]
    )
    assert sides.min() >= 8 - 2 and sides.max() <= 16  # ellipses and triangles may lose a pixel at the rim


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_size": 30, "max_size": 20}, "min_size 30 is larger than max_size 20"),
        ({"image_size": 16, "max_size": 24}, "max_size 24 does not fit a 16-pixel image"),
    ],
)
def test_impossible_parameters_name_the_fix(
    make: Callable[..., Any], params: dict[str, int], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        make("shapes", **params).prepare()
