"""Tests of edgeai_core.metrics.classification_metrics against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgeai_core.metrics import classification_metrics

# Hand-made 3-class example (rows of the confusion matrix = true class, columns = predicted):
#   true 0: predicted 0, 0, 1        -> [2, 1, 0]
#   true 1: predicted 1, 1, 1, 2     -> [0, 3, 1]
#   true 2: predicted 0, 2, 2        -> [1, 0, 2]
TARGETS = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
PREDICTED = [0, 0, 1, 1, 1, 1, 2, 0, 2, 2]


def one_hot_scores(labels: list[int], num_classes: int) -> np.ndarray:
    scores = np.full((len(labels), num_classes), 0.1)
    scores[np.arange(len(labels)), labels] = 0.9
    return scores


def test_three_class_example_by_hand() -> None:
    result = classification_metrics(one_hot_scores(PREDICTED, 3), np.array(TARGETS), ["cat", "dog", "eel"])
    assert result["task"] == "classification"
    assert result["applicable"] is True
    assert result["num_samples"] == 10
    assert result["num_classes"] == 3
    assert result["class_names"] == ["cat", "dog", "eel"]
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 3, 1], [1, 0, 2]]
    assert result["accuracy"] == pytest.approx(7 / 10)
    # precision = diagonal / column sums (3, 4, 3); sensitivity = diagonal / row sums (3, 4, 3)
    assert result["per_class"]["precision"] == pytest.approx([2 / 3, 3 / 4, 2 / 3])
    assert result["per_class"]["sensitivity"] == pytest.approx([2 / 3, 3 / 4, 2 / 3])
    assert result["per_class"]["support"] == [3, 4, 3]
    assert result["mean_precision"] == pytest.approx((2 / 3 + 3 / 4 + 2 / 3) / 3)
    assert result["mean_sensitivity"] == pytest.approx((2 / 3 + 3 / 4 + 2 / 3) / 3)
    assert result["g_mean"] == pytest.approx((2 / 3 * 3 / 4 * 2 / 3) ** (1 / 3))
    assert result["top_k"] == 3  # min(5, C)
    assert result["top5_accuracy"] == 1.0  # with 3 classes every target is in the top 3
    json.dumps(result, allow_nan=False)


def test_asymmetric_precision_and_sensitivity() -> None:
    # true:      0  0  0  0  1  1  2
    # predicted: 0  0  0  1  1  0  2
    result = classification_metrics(np.array([0, 0, 0, 1, 1, 0, 2]), np.array([0, 0, 0, 0, 1, 1, 2]))
    assert result["confusion_matrix"] == [[3, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert result["per_class"]["precision"] == pytest.approx([3 / 4, 1 / 2, 1.0])
    assert result["per_class"]["sensitivity"] == pytest.approx([3 / 4, 1 / 2, 1.0])
    assert result["g_mean"] == pytest.approx(math.exp((math.log(0.75) + math.log(0.5)) / 3))
    result = classification_metrics(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]))
    assert result["confusion_matrix"] == [[1, 1], [0, 2]]
    assert result["per_class"]["precision"] == pytest.approx([1.0, 2 / 3])
    assert result["per_class"]["sensitivity"] == pytest.approx([0.5, 1.0])
    assert result["mean_precision"] == pytest.approx(5 / 6)
    assert result["mean_sensitivity"] == pytest.approx(0.75)
    assert result["g_mean"] == pytest.approx(math.sqrt(0.5))


def test_labels_only_gives_no_top5() -> None:
    result = classification_metrics(np.array(PREDICTED), np.array(TARGETS))
    assert result["top5_accuracy"] is None
    assert result["top_k"] is None
    assert result["num_classes"] == 3
    assert result["class_names"] == ["0", "1", "2"]
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 3, 1], [1, 0, 2]]


def test_labels_only_takes_class_count_from_names() -> None:
    result = classification_metrics([0, 1, 1], [0, 1, 0], class_names=["a", "b", "c", "d"])
    assert result["num_classes"] == 4
    assert result["per_class"]["support"] == [2, 1, 0, 0]
    assert result["per_class"]["sensitivity"][2:] == [None, None]  # no support
    assert result["per_class"]["precision"][2:] == [None, None]  # never predicted
    assert result["mean_sensitivity"] == pytest.approx((0.5 + 1.0) / 2)


def test_class_never_predicted_has_precision_none_and_g_mean_zero() -> None:
    result = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 2]))
    assert result["num_classes"] == 3
    # true 0 -> 0; true 2 -> 0; true 1 -> 1; true 2 -> 1: columns 0 and 1 each hold one hit in two
    assert result["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 1, 0]]
    assert result["per_class"]["precision"] == [0.5, 0.5, None]
    assert result["per_class"]["sensitivity"] == [1.0, 1.0, 0.0]
    assert result["mean_precision"] == pytest.approx(0.5)
    assert result["g_mean"] == 0.0
    json.dumps(result, allow_nan=False)


def test_top5_with_ten_classes() -> None:
    # Scores rank classes 9, 8, ..., 0 for every sample, so the top 5 are classes 5..9.
    scores = np.tile(np.arange(10, dtype=np.float32), (10, 1))
    targets = np.arange(10)
    result = classification_metrics(scores, targets)
    assert result["top_k"] == 5
    assert result["top5_accuracy"] == pytest.approx(0.5)  # targets 5..9 hit, 0..4 miss
    assert result["accuracy"] == pytest.approx(0.1)  # only target 9 is top-1
    assert result["per_class"]["precision"][9] == pytest.approx(0.1)
    assert result["per_class"]["precision"][:9] == [None] * 9


def test_top_k_parameter_and_ties_prefer_lower_index() -> None:
    scores = np.zeros((4, 10))  # all tied: the stable order is 0, 1, 2, ...
    targets = np.array([0, 2, 3, 9])
    result = classification_metrics(scores, targets, top_k=3)
    assert result["top_k"] == 3
    assert result["top5_accuracy"] == pytest.approx(0.5)  # targets 0 and 2 are among classes 0, 1, 2
    assert result["confusion_matrix"][9][0] == 1  # argmax of ties is class 0
    assert result["accuracy"] == pytest.approx(0.25)


def test_top_k_over_many_rows_matches_argsort() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(9000, 12)).astype(np.float64)  # many ties, spans chunks
    targets = rng.integers(0, 12, size=9000)
    result = classification_metrics(scores, targets)
    order = np.argsort(-scores, axis=1, kind="stable")
    expected_top5 = (order[:, :5] == targets[:, None]).any(axis=1).mean()
    assert result["top5_accuracy"] == pytest.approx(float(expected_top5))
    assert result["accuracy"] == pytest.approx(float((scores.argmax(axis=1) == targets).mean()))


def test_row_mismatch_is_named() -> None:
    with pytest.raises(ValueError, match="outputs have 10 rows but targets 9"):
        classification_metrics(np.zeros((10, 3)), np.zeros(9, dtype=int))


def test_class_name_mismatch_is_named() -> None:
    with pytest.raises(ValueError, match="4 columns but there are 3 class names"):
        classification_metrics(np.zeros((2, 4)), [0, 1], ["a", "b", "c"])


def test_target_out_of_range_is_named() -> None:
    with pytest.raises(ValueError, match=r"target 3 at index 1 is outside \[0, 3\)"):
        classification_metrics(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match=r"target -1 at index 0 is outside \[0, 3\)"):
        classification_metrics(np.zeros((2, 3)), [-1, 0])


def test_predicted_label_out_of_range_with_names() -> None:
    with pytest.raises(ValueError, match=r"predicted label 2 at index 1 is outside \[0, 2\)"):
        classification_metrics([0, 2], [0, 1], class_names=["a", "b"])


def test_bad_shapes_and_values() -> None:
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(np.zeros((2, 3, 4)), [0, 1])
    with pytest.raises(ValueError, match="targets must be a 1-D"):
        classification_metrics(np.zeros((2, 3)), [[0], [1]])
    with pytest.raises(ValueError, match="non-integral"):
        classification_metrics(np.zeros((2, 3)), [0.5, 1.0])
    with pytest.raises(ValueError, match="no samples"):
        classification_metrics(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="top_k"):
        classification_metrics(np.zeros((2, 3)), [0, 1], top_k=0)


def test_integral_float_labels_accepted() -> None:
    result = classification_metrics(np.array([1.0, 0.0]), np.array([1.0, 1.0]))
    assert result["confusion_matrix"] == [[0, 0], [1, 1]]


def test_results_are_plain_python() -> None:
    result = classification_metrics(one_hot_scores(PREDICTED, 3), np.array(TARGETS, dtype=np.int32))
    assert type(result["num_classes"]) is int
    assert type(result["accuracy"]) is float
    assert all(type(v) is int for row in result["confusion_matrix"] for v in row)
    assert all(type(v) is int for v in result["per_class"]["support"])
    assert all(type(v) is float for v in result["per_class"]["precision"])
