"""Detection and segmentation metrics (edgeai_datasets.vision_metrics) against hand computations and references.

The detection fixture: two 100x100 images, classes cat and dog.

image 1: true cat A [0, 0, 10, 10] (small), true dog B [50, 50, 90, 90] (medium)
image 2: true cat C [20, 20, 40, 40] (small)
detections, by score: cat 0.9 on A (IoU 1), cat 0.8 on nothing, cat 0.7 on C (IoU 18.5/20 = 0.925),
dog 0.6 on B (IoU 33/40 = 0.825)

cat, a threshold <= 0.9 (9 of 10): TP, FP, TP -> recall 0.5, 0.5, 1 and interpolated precision 1, 2/3, 2/3;
101-point AP = (51 * 1 + 50 * 2/3) / 101. At 0.95 the third is an FP: AP = 51 / 101.
dog: a TP at 7 thresholds (0.5..0.8), nothing at 0.85..0.95: AP = 0.7.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edgeai_core.api import BoxTargets, Detections, UsageError
from edgeai_datasets.vision_metrics import detection_metrics, segmentation_metrics

needs_coco = pytest.mark.skipif(
    importlib.util.find_spec("pycocotools") is None, reason="pycocotools is not installed"
)

NAMES = ["cat", "dog"]
CAT_AP50 = (51 + 50 * 2 / 3) / 101
CAT_AP = (9 * CAT_AP50 + 51 / 101) / 10
DOG_AP = 0.7


def _fixture() -> tuple[list[Detections], list[BoxTargets]]:
    targets = [
        BoxTargets([[0, 0, 10, 10], [50, 50, 90, 90]], [0, 1], (100, 100)),
        BoxTargets([[20, 20, 40, 40]], [0], (100, 100)),
    ]
    predictions = [
        Detections([[0, 0, 10, 10], [60, 60, 70, 70], [50, 50, 90, 83]], [0.9, 0.8, 0.6], [0, 0, 1]),
        Detections([[20, 20, 40, 38.5]], [0.7], [0]),
    ]
    return predictions, targets


@needs_coco
def test_detection_metrics_equal_the_hand_computation() -> None:
    predictions, targets = _fixture()
    m = detection_metrics(predictions, targets, NAMES)
    assert m["task"] == "detection" and m["applicable"] is True
    assert (m["num_images"], m["num_classes"], m["num_targets"], m["num_detections"]) == (2, 2, 3, 4)
    assert m["class_names"] == NAMES
    assert m["per_class"]["ap"] == pytest.approx([CAT_AP, DOG_AP], abs=1e-4)
    assert m["per_class"]["ap_50"] == pytest.approx([CAT_AP50, 1.0], abs=1e-4)
    assert m["per_class"]["support"] == [2, 1]
    assert m["map"] == pytest.approx((CAT_AP + DOG_AP) / 2, abs=1e-4)
    assert m["map_50"] == pytest.approx((CAT_AP50 + 1.0) / 2, abs=1e-4)
    assert m["map_75"] == pytest.approx((CAT_AP50 + 1.0) / 2, abs=1e-4)  # both still TPs at 0.75
    assert m["map_small"] == pytest.approx(CAT_AP, abs=1e-4)  # only the cats are small
    assert m["map_medium"] == pytest.approx(DOG_AP, abs=1e-4)
    assert m["map_large"] == -1  # no large object: COCO's "nothing to average"
    assert m["mar_100"] == pytest.approx((0.95 + 0.7) / 2, abs=1e-4)
    curves = m["pr_curves"]
    assert curves["iou"] == 0.5 and len(curves["recall"]) == 101 and curves["recall"][50] == 0.5
    assert curves["precision"]["cat"] == [1.0] * 51 + [0.6667] * 50
    assert curves["precision"]["dog"] == [1.0] * 101
    assert m["reference"].startswith("pycocotools ")
    json.dumps(m, allow_nan=False)  # plain JSON values only


@needs_coco
def test_detection_metrics_equal_pycocotools_run_on_json_files(tmp_path: Path) -> None:
    """An independent path through the reference: COCO files on disk, COCO(path), loadRes(path), COCOeval."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    predictions, targets = _fixture()
    images, annotations, results = [], [], []
    for i, (found, truth) in enumerate(zip(predictions, targets, strict=True)):
        images.append({"id": 100 + i, "file_name": f"{i}.png", "width": 100, "height": 100})
        for box, label in zip(truth.boxes.tolist(), truth.labels.tolist(), strict=True):
            x0, y0, x1, y1 = box
            annotations.append(
                {"id": len(annotations) + 7, "image_id": 100 + i, "category_id": 10 * (label + 1),
                 "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
            )  # fmt: skip
        for box, score, label in zip(
            found.boxes.tolist(), found.scores.tolist(), found.labels.tolist(), strict=True
        ):
            x0, y0, x1, y1 = box
            results.append(
                {"image_id": 100 + i, "category_id": 10 * (label + 1), "bbox": [x0, y0, x1 - x0, y1 - y0],
                 "score": score}
            )  # fmt: skip
    categories = [{"id": 10, "name": "cat"}, {"id": 20, "name": "dog"}]
    (tmp_path / "gt.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    (tmp_path / "dt.json").write_text(json.dumps(results))
    gt = COCO(str(tmp_path / "gt.json"))
    evaluation = COCOeval(gt, gt.loadRes(str(tmp_path / "dt.json")), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    stats = evaluation.stats
    m = detection_metrics(predictions, targets, NAMES)
    ours = [m[k] for k in ("map", "map_50", "map_75", "map_small", "map_medium", "map_large")]
    assert np.round(ours, 4).tolist() == np.round(stats[:6], 4).tolist()
    assert round(m["mar_100"], 4) == round(float(stats[8]), 4)
    precision = evaluation.eval["precision"]
    for k in range(2):
        assert round(m["per_class"]["ap"][k], 4) == round(float(precision[:, :, k, 0, -1].mean()), 4)


@needs_coco
def test_no_detections_score_zero_and_classes_without_objects_are_none() -> None:
    _, targets = _fixture()
    empty = [Detections(np.zeros((0, 4)), [], []) for _ in targets]
    m = detection_metrics(empty, targets, ["cat", "dog", "bird"])
    assert m["map"] == 0.0 and m["map_50"] == 0.0 and m["num_detections"] == 0
    assert m["per_class"]["ap"] == [0.0, 0.0, None] and m["per_class"]["support"] == [2, 1, 0]
    assert m["pr_curves"]["precision"]["bird"] is None
    assert m["pr_curves"]["precision"]["cat"] == [0.0] * 101


@needs_coco
def test_crowd_regions_are_not_counted() -> None:
    targets = [BoxTargets([[0, 0, 10, 10], [40, 40, 80, 80]], [0, 0], (100, 100), iscrowd=[False, True])]
    # the second detection lies inside the crowd region
    found = [Detections([[0, 0, 10, 10], [45, 45, 75, 75]], [0.9, 0.8], [0, 0])]
    m = detection_metrics(found, targets, ["cat"])
    assert m["num_targets"] == 1 and m["per_class"]["support"] == [1]
    assert m["map"] == pytest.approx(1.0)  # a detection inside a crowd region is neither TP nor FP


@needs_coco
def test_detection_input_errors_are_one_line() -> None:
    predictions, targets = _fixture()
    with pytest.raises(UsageError, match=r"^detection metrics: 1 predictions for 2 images$"):
        detection_metrics(predictions[:1], targets, NAMES)
    wrong = [Detections([[0, 0, 5, 5]], [0.5], [2]), predictions[1]]
    with pytest.raises(
        UsageError, match=r"image 0, detection 0 has label 2, outside the dataset's 2 classes"
    ):
        detection_metrics(wrong, targets, NAMES)


# -- segmentation --------------------------------------------------------------------------------------------

TRUE = np.array([[[0, 0, 1, 1], [0, 2, 1, 1], [2, 2, 255, 1]]])
PRED = np.array([[[0, 1, 1, 1], [0, 2, 2, 1], [2, 0, 0, 1]]])
# 11 counted pixels; rows are true classes: [[2, 1, 0], [0, 4, 1], [1, 0, 2]] (class 3 appears nowhere)
MATRIX = [[2, 1, 0, 0], [0, 4, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]]


def test_segmentation_metrics_equal_the_hand_computation() -> None:
    m = segmentation_metrics(PRED, TRUE, ["background", "road", "car", "boat"])
    assert m["confusion_matrix"] == MATRIX
    assert m["per_class"]["support"] == [3, 5, 3, 0]
    # IoU = TP / (true + predicted - TP): 2 / (3 + 3 - 2), 4 / (5 + 5 - 4), 2 / (3 + 3 - 2); boat: undefined
    assert m["per_class"]["iou"] == pytest.approx([0.5, 4 / 6, 0.5, None])
    assert m["per_class"]["accuracy"] == pytest.approx([2 / 3, 4 / 5, 2 / 3, None])
    assert m["miou"] == pytest.approx(5 / 9)
    assert round(m["miou"], 4) == 0.5556
    assert m["pixel_accuracy"] == pytest.approx(8 / 11)
    assert m["mean_accuracy"] == pytest.approx(32 / 45)
    assert (m["task"], m["applicable"], m["num_images"], m["num_classes"], m["ignore_index"]) == (
        "segmentation", True, 1, 4, 255,
    )  # fmt: skip
    json.dumps(m, allow_nan=False)


def test_a_class_only_predicted_counts_in_the_miou() -> None:
    pred = PRED.copy()
    pred[0, 0, 0] = 3  # a true background pixel predicted as boat
    m = segmentation_metrics(pred, TRUE, ["background", "road", "car", "boat"])
    assert m["per_class"]["iou"][3] == 0.0 and m["per_class"]["accuracy"][3] is None
    # background: TP 1, true 3, predicted 2 -> 1 / 4
    assert m["miou"] == pytest.approx((1 / 4 + 4 / 6 + 0.5 + 0.0) / 4)


def test_segmentation_agrees_with_scikit_learn() -> None:
    from sklearn.metrics import confusion_matrix, jaccard_score

    rng = np.random.default_rng(3)
    true = rng.integers(0, 5, (4, 9, 7))
    true[rng.random(true.shape) < 0.1] = 255
    pred = rng.integers(0, 5, (4, 9, 7))
    m = segmentation_metrics(pred, true, list("abcde"))
    keep = true.reshape(-1) != 255
    t, p = true.reshape(-1)[keep], pred.reshape(-1)[keep]
    assert m["confusion_matrix"] == confusion_matrix(t, p, labels=range(5)).tolist()
    assert m["per_class"]["iou"] == pytest.approx(jaccard_score(t, p, labels=range(5), average=None).tolist())
    assert m["miou"] == pytest.approx(jaccard_score(t, p, labels=range(5), average="macro"))


def test_segmentation_agrees_with_torchmetrics() -> None:
    torch = pytest.importorskip("torch")
    classification = pytest.importorskip("torchmetrics.classification")
    rng = np.random.default_rng(5)
    true = rng.integers(0, 4, (3, 8, 8))
    true[0, :2] = 255
    pred = rng.integers(0, 4, (3, 8, 8))
    metric = classification.MulticlassJaccardIndex(num_classes=4, ignore_index=255, average=None)
    reference = metric(torch.from_numpy(pred), torch.from_numpy(true)).double().numpy()
    m = segmentation_metrics(pred, true, list("abcd"))
    assert np.abs(np.asarray(m["per_class"]["iou"]) - reference).max() < 5e-5  # float32 inside torchmetrics


def test_segmentation_input_errors_are_one_line() -> None:
    names = ["a", "b", "c"]
    with pytest.raises(UsageError, match=r"predictions \(1, 3, 3\) and targets \(1, 3, 4\)"):
        segmentation_metrics(PRED[:, :, :3], TRUE, names)
    with pytest.raises(UsageError, match=r"prediction 0 has class 7, outside the 3 classes"):
        segmentation_metrics(np.full_like(PRED, 7), TRUE, names)
    with pytest.raises(UsageError, match=r"every target pixel is the ignore value 255"):
        segmentation_metrics(PRED, np.full_like(TRUE, 255), names)
    with pytest.raises(UsageError, match=r"must be integers, got float64"):
        segmentation_metrics(PRED.astype(float), TRUE, names)


def test_the_functions_are_exported_by_the_package() -> None:
    import edgeai_datasets

    assert edgeai_datasets.detection_metrics is detection_metrics
    assert edgeai_datasets.segmentation_metrics is segmentation_metrics
    assert {"detection_metrics", "segmentation_metrics"} <= set(edgeai_datasets.__all__)
