"""Detection and segmentation formats and decoders (edgeai_core.tasks, taskeval.png_base64)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from edgeai_core.api import (
    BoxTargets,
    IOSpec,
    PostprocessError,
    TensorSpec,
    UsageError,
    box_targets_array,
    check_box_targets,
    check_masks,
    check_postprocess,
    decode_predictions,
    png_base64,
    primary_metric,
)


def _io(*shapes: tuple[object, ...]) -> IOSpec:
    outputs = tuple(TensorSpec(f"out{i}", shape, "float32") for i, shape in enumerate(shapes))  # type: ignore[arg-type]
    return IOSpec((TensorSpec("image", (1, 3, 32, 32), "float32"),), outputs)


def test_centernet_decodes_exact_boxes_from_a_hand_made_head() -> None:
    io = _io((1, 2, 8, 8), (1, 2, 8, 8), (1, 2, 8, 8))
    spec = check_postprocess(
        "detection", {"kind": "centernet", "heatmap": 0, "size": 1, "offset": 2}, io, "m"
    )
    heat = np.zeros((1, 2, 8, 8), np.float32)
    size = np.zeros((1, 2, 8, 8), np.float32)
    offset = np.zeros((1, 2, 8, 8), np.float32)
    heat[0, 1, 2, 3] = 0.9  # class 1, centre cell (x=3, y=2)
    heat[0, 1, 2, 4] = 0.5  # a neighbour of the peak: suppressed
    heat[0, 0, 6, 6] = 0.3
    size[0, :, 2, 3] = (8.0, 4.0)
    offset[0, :, 2, 3] = (0.5, 0.25)
    size[0, :, 6, 6] = (2.0, 2.0)
    (found,) = decode_predictions("detection", spec, [heat, size, offset], (32, 32))
    assert found.labels.tolist() == [1, 0]
    assert found.scores == pytest.approx([0.9, 0.3])
    cx, cy = (3 + 0.5) * 4, (2 + 0.25) * 4
    assert found.boxes[0] == pytest.approx([cx - 4, cy - 2, cx + 4, cy + 2])
    assert found.boxes[1] == pytest.approx([23, 23, 25, 25])


def test_padded_boxes_in_every_format_and_a_count() -> None:
    io = _io((2, 3, 4), (2, 3), (2, 3), (2,))
    base = {"kind": "boxes", "boxes": "out0", "scores": 1, "labels": 2, "count": 3}
    boxes = np.array([[[0.25, 0.5, 0.5, 0.25]] * 3, [[0.5, 0.5, 0.5, 0.5]] * 3])
    scores = np.array([[0.9, 0.8, 0.0], [0.7, 0.6, 0.5]])
    labels = np.array([[2, 1, 0], [0, 0, 0]], np.float32)
    count = np.array([3, 1])
    spec = check_postprocess("detection", {**base, "box_format": "cxcywh", "normalized": True}, io, "m")
    first, second = decode_predictions("detection", spec, [boxes, scores, labels, count], (40, 20))
    assert len(first) == 2 and len(second) == 1  # the zero score and the rows past the count are dropped
    assert first.labels.tolist() == [2, 1]
    assert first.boxes[0] == pytest.approx([5 - 5, 20 - 5, 5 + 5, 20 + 5])
    spec = check_postprocess("detection", {**base, "box_format": "xywh"}, io, "m")
    first, _ = decode_predictions("detection", spec, [boxes * 8, scores, labels, count], (40, 20))
    assert first.boxes[0] == pytest.approx([2, 4, 6, 6])


def test_segmentation_argmax_follows_the_declared_layout() -> None:
    logits = np.zeros((1, 4, 5, 3), np.float32)  # NHWC: 4x5 image, 3 classes
    logits[0, 1, 2, 2] = 5.0
    io = _io((1, 4, 5, 3))
    masks = decode_predictions("segmentation", check_postprocess("segmentation", {"kind": "segmentation",
                               "layout": "NHWC"}, io, "m"), [logits], (4, 5))  # fmt: skip
    assert isinstance(masks, np.ndarray) and masks.shape == (1, 4, 5)
    assert masks[0, 1, 2] == 2 and masks.sum() == 2
    default = check_postprocess("segmentation", None, _io((1, 3, 4, 5)), "m")
    assert default["kind"] == "segmentation" and default["output"] == 0 and default["layout"] == "NCHW"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (None, "needs a postprocess declaration"),
        ({"kind": "yolo"}, "postprocess.kind must be one of"),
        ({"kind": "segmentation"}, "does not decode detection"),
        (
            {"kind": "boxes", "boxes": 0, "scores": 1, "labels": 7},
            "postprocess.labels = 7, but the model has 3",
        ),
        (
            {"kind": "boxes", "boxes": 0, "scores": 1, "labels": "nms"},
            "'nms' is not one of the model's outputs",
        ),
        ({"kind": "boxes", "boxes": 0, "scores": 1}, "postprocess.labels is missing"),
        ({"kind": "boxes", "boxes": 0, "scores": 1, "labels": 2, "box_format": "yxyx"}, "box_format"),
    ],
)
def test_postprocess_declarations_that_do_not_fit_name_the_field(spec: object, field: str) -> None:
    with pytest.raises(PostprocessError, match=r"^model x: ") as info:
        check_postprocess("detection", spec, _io((1, 10, 4), (1, 10), (1, 10)), "model x")  # type: ignore[arg-type]
    assert field in str(info.value) and "\n" not in str(info.value)


def test_variable_length_detections_are_refused_with_what_to_export() -> None:
    with pytest.raises(PostprocessError, match=r"variable detection count .* padded to a fixed count"):
        check_postprocess("detection", {"kind": "boxes", "boxes": 0, "scores": 1, "labels": 2},
                          _io((1, None, 4), (1, None), (1, None)), "m")  # fmt: skip


def test_box_targets_are_checked_against_the_image_and_the_classes() -> None:
    good = BoxTargets([[1, 2, 10, 12]], [1], (16, 16))
    check_box_targets(box_targets_array([good]), 2, "ann.json")
    cases = [
        (
            BoxTargets([[1, 2, 20, 12]], [0], (16, 16)),
            "ann.json: a.png, box 0 [1, 2, 20, 12] lies outside the 16x16",
        ),
        (BoxTargets([[5, 2, 1, 12]], [0], (16, 16)), "empty or inverted"),
        (BoxTargets([[1, 2, 3, 4]], [5], (16, 16)), "label 5, outside the 2 known classes"),
    ]
    for target, message in cases:
        with pytest.raises(UsageError, match=message.replace("[", r"\[")):
            check_box_targets([target], 2, "ann.json", names=["a.png"])


def test_masks_with_unknown_classes_name_the_pixel() -> None:
    masks = np.zeros((2, 3, 4), np.int64)
    masks[1, 2, 3] = 255  # ignored pixels are fine
    check_masks(masks, 3, "masks/")
    masks[1, 0, 2] = 7
    with pytest.raises(UsageError, match=r"masks/: mask 1 pixel \(2, 0\) has class 7"):
        check_masks(masks, 3, "masks/")


def test_png_round_trips_through_pillow() -> None:
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    grey = np.arange(35, dtype=np.uint8).reshape(7, 5)
    for image in (rgb, grey):
        back = np.asarray(Image.open(io.BytesIO(base64.b64decode(png_base64(image)))))
        assert np.array_equal(back, image)


def test_primary_metric_per_task() -> None:
    assert primary_metric({"task": "detection", "applicable": True, "map": 0.5}) == ("map", 0.5)
    assert primary_metric({"task": "segmentation", "applicable": True, "miou": 0.25}) == ("miou", 0.25)
    assert primary_metric({"task": "classification", "applicable": True, "accuracy": 1}) == ("accuracy", 1.0)
    assert primary_metric({"task": "detection", "applicable": False}) is None


def test_the_conformance_kit_compares_detection_targets_field_by_field() -> None:
    from edgeai_core.testing.conformance import same_targets

    a = box_targets_array([BoxTargets([[1, 2, 3, 4]], [0], (8, 8)), BoxTargets(np.zeros((0, 4)), [], (8, 8))])
    b = box_targets_array([BoxTargets([[1, 2, 3, 4]], [0], (8, 8)), BoxTargets(np.zeros((0, 4)), [], (8, 8))])
    c = box_targets_array([BoxTargets([[1, 2, 3, 5]], [0], (8, 8)), BoxTargets(np.zeros((0, 4)), [], (8, 8))])
    assert same_targets(a, b) and not same_targets(a, c) and not same_targets(a, b[:1])
    assert same_targets(np.arange(3), np.arange(3)) and not same_targets(np.arange(3), np.arange(1, 4))
