"""A user's own detection and segmentation models as ``onnx-file``: ``task`` and ``postprocess`` declared,
checked against the graph's outputs before anything runs, and evaluated on ``shapes`` through ``edgeai run``.

The graphs are built here with onnx.helper so their outputs are known exactly: the detector returns the same
padded boxes for every image (broadcast over the batch), the segmenter the argmax of the input's channels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from onnx import TensorProto, helper, numpy_helper

from edgeai_core.cli import cli
from edgeai_core.errors import UsageError
from edgeai_core.tasks import Detections

pytest.importorskip("edgeai_datasets", reason="edgeai-datasets provides the shapes datasets")

#: the detector's padded rows: 3 valid detections (count = 3) and a fourth row past the count
BOXES = np.array([[8, 8, 30, 30], [34, 6, 60, 28], [10, 36, 40, 62], [0, 0, 64, 64]], dtype=np.float32)
SCORES = np.array([0.9, 0.6, 0.3, 0.8], dtype=np.float32)
LABELS = np.array([0, 1, 2, 1], dtype=np.int64)
DETECTOR = {"kind": "boxes", "boxes": 0, "scores": 1, "labels": 2, "count": 3}
#: a small shapes dataset (NCHW for the detector, NHWC for the segmenter)
SHAPES = {"samples": 60, "test_fraction": 0.5}
FAST = {"warmup": 1, "min_count": 3, "min_duration_s": 0.0}


def _broadcast(name: str, value: np.ndarray, out: str) -> list[Any]:
    """Nodes tiling the constant ``value`` over the batch of ``image``: ``out`` is (N, *value.shape)."""
    rest = numpy_helper.from_array(np.array(value.shape, dtype=np.int64))
    return [
        helper.make_node("Constant", [], [f"{name}_value"], value=numpy_helper.from_array(value)),
        helper.make_node("Shape", ["image"], [f"{name}_shape"], start=0, end=1),
        helper.make_node("Constant", [], [f"{name}_rest"], value=rest),
        helper.make_node("Concat", [f"{name}_shape", f"{name}_rest"], [f"{name}_full"], axis=0),
        helper.make_node("Expand", [f"{name}_value", f"{name}_full"], [out]),
    ]


def detector_graph(testkit: Any, path: Path, *, rows: Any = None, dims: int | str = 4) -> Path:
    """image (N, 3, 64, 64) -> boxes (N, 4, 4), scores (N, 4), labels (N, 4), count (N,): the same ``rows``
    (boxes, scores, labels, count; default: the module's constants) for every image. ``dims`` is the
    declared row dimension of the outputs (a name: a variable count)."""
    boxes, scores, labels, count = rows if rows is not None else (BOXES, SCORES, LABELS, 3)
    nodes = [
        *_broadcast("b", boxes, "boxes"),
        *_broadcast("s", scores, "scores"),
        *_broadcast("l", labels, "labels"),
        *_broadcast("c", np.array(count, dtype=np.int64), "count"),
    ]
    outputs = [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", dims, 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", dims]),
        helper.make_tensor_value_info("labels", TensorProto.INT64, ["N", dims]),
        helper.make_tensor_value_info("count", TensorProto.INT64, ["N"]),
    ]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 64, 64])
    return testkit.save_model(helper.make_graph(nodes, "detector", [image], outputs), path)


def segmenter_graph(testkit: Any, path: Path) -> Path:
    """NHWC image (N, 64, 64, 3) -> labels (N, 64, 64) = argmax over channels; scores (N, 64, 64, 4) = the
    image with a zero fourth channel (the same argmax)."""
    pads = numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 0, 1], dtype=np.int64))
    graph = helper.make_graph(
        [
            helper.make_node("ArgMax", ["image"], ["labels"], axis=3, keepdims=0),
            helper.make_node("Constant", [], ["pads"], value=pads),
            helper.make_node("Pad", ["image", "pads"], ["scores"]),
        ],
        "segmenter",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 64, 64, 3])],
        [
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["N", 64, 64]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 64, 64, 4]),
        ],
    )
    return testkit.save_model(graph, path)


@pytest.fixture
def vision_host(first_party_host: Callable[..., Any]) -> Any:
    return first_party_host("onnx", "datasets")


def edgeai_run(host: Any, tmp_path: Path, config: dict[str, Any], name: str = "run", *more: str) -> Result:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / name), *more], obj={"host": host})


def _config(model: dict[str, Any], dataset: str, **dataset_params: Any) -> dict[str, Any]:
    return {
        "dataset": {"name": dataset, **SHAPES, **dataset_params},
        "model": {"name": "onnx-file", **model},
        "runtime": {"name": "onnxruntime"},
        "benchmark": FAST,
        "resources": {"enabled": False},
        "evaluation": {"examples": 0},
    }


def test_detection_model_map_equals_the_metric_on_its_boxes(
    testkit: Any, vision_host: Any, tmp_path: Path
) -> None:
    pytest.importorskip("pycocotools")
    from edgeai_datasets.vision_metrics import detection_metrics

    dataset = vision_host.get("dataset", "shapes").create(SHAPES, where="dataset", context=_context(tmp_path))
    dataset.prepare()
    targets = list(dataset.split("test").targets)
    # the first test image's true objects, then padding up to 4 rows: that image is found exactly
    first = targets[0]
    k = len(first)
    boxes = np.zeros((4, 4), np.float32)
    scores = np.full(4, 0.8, np.float32)  # rows past the count score high: the count must drop them
    labels = np.ones(4, np.int64)
    boxes[:k], scores[:k], labels[:k] = first.boxes, np.linspace(0.9, 0.5, k), first.labels
    boxes[k:] = [0, 0, 64, 64]
    onnx_path = detector_graph(testkit, tmp_path / "detector.onnx", rows=(boxes, scores, labels, k))
    declaration = {**DETECTOR, "count": "count"}
    config = _config({"path": str(onnx_path), "task": "detection", "postprocess": declaration}, "shapes")
    assert edgeai_run(vision_host, tmp_path, config, "dry", "--dry-run").exit_code == 0
    result = edgeai_run(vision_host, tmp_path, config)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    quality = doc["quality"]
    predicted = [Detections(boxes[:k], scores[:k], labels[:k]) for _ in targets]
    expected = detection_metrics(predicted, targets, dataset.class_names)
    assert quality["task"] == "detection" and quality["primary"] == "map"
    assert quality["map"] == expected["map"] and quality["map_50"] == expected["map_50"]
    assert quality["map_75"] == expected["map_75"] and quality["map"] > 0.0
    assert quality["postprocess"]["count"] == 3 and quality["postprocess"]["box_format"] == "xyxy"
    model_step = next(s for s in doc["steps"] if s["name"] == "onnx-file")
    assert model_step["metadata"]["task"] == "detection"
    assert model_step["metadata"]["postprocess"] == declaration


def _context(tmp_path: Path) -> Any:
    from edgeai_core.components import Context

    work = tmp_path / "direct"
    work.mkdir(exist_ok=True)
    return Context(workdir=work, seed=0)


@pytest.mark.parametrize(
    ("postprocess", "rows", "problem"),
    [
        (
            {"kind": "boxes", "boxes": 0, "scores": 1, "labels": 5},
            4,
            "postprocess.labels = 5, but the model has 4 output(s): boxes, scores, labels, count",
        ),
        (
            {"kind": "centernet", "heatmap": "boxes", "size": 1, "offset": 2},
            4,
            "postprocess.heatmap: output 'boxes' has shape (None, 4, 4), expected 4 dimensions",
        ),
        (
            {"kind": "boxes", "boxes": "boxes", "scores": "scores", "labels": "labels"},
            "K",
            "output 'boxes' has a variable detection count (None, None, 4); export boxes padded to a fixed count "
            "(NMS with a fixed max_output_boxes and a count output)",
        ),
    ],
    ids=["missing-output", "rank", "variable-count"],
)
def test_mismatched_declaration_is_one_line_exit_2(
    testkit: Any, vision_host: Any, tmp_path: Path, postprocess: dict[str, Any], rows: Any, problem: str
) -> None:
    onnx_path = detector_graph(testkit, tmp_path / "detector.onnx", dims=rows)
    # the outputs as the file declares them (shape inference would pin the constants' row count; an exporter's
    # NMS outputs stay symbolic)
    model = {"path": str(onnx_path), "task": "detection", "postprocess": postprocess, "check": "structure"}
    result = edgeai_run(vision_host, tmp_path, _config(model, "shapes"))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    # the model stage, the run's first, fails before anything is converted or loaded into a runtime
    assert (
        errors[0]
        == f"error: model failed: {onnx_path}: {problem} (partial results in {tmp_path}/run/results.json)"
    )
    # planning (--dry-run) says the same, before anything runs
    dry = edgeai_run(vision_host, tmp_path, _config(model, "shapes"), "dry", "--dry-run")
    assert dry.exit_code == 2
    assert dry.output.strip().splitlines()[-1] == f"error: {onnx_path}: {problem}"


def test_declared_task_must_match_the_dataset_at_planning(
    testkit: Any, vision_host: Any, tmp_path: Path
) -> None:
    onnx_path = detector_graph(testkit, tmp_path / "detector.onnx")
    config = _config({"path": str(onnx_path), "task": "segmentation"}, "shapes")
    result = edgeai_run(vision_host, tmp_path, config)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: model.task: model 'onnx-file' is declared a segmentation model, but dataset 'shapes' is a "
        "detection dataset"
    )
    assert not (tmp_path / "run" / "results.json").exists()  # refused before anything ran
    config = _config({"path": str(onnx_path), "postprocess": DETECTOR}, "shapes-segmentation")
    result = edgeai_run(vision_host, tmp_path, config, name="kind")
    assert result.exit_code == 2
    assert "error: model.postprocess.kind: model 'onnx-file' is declared a detection model" in result.output


def test_detection_without_a_declaration_says_what_to_add(testkit: Any, make: Any, tmp_path: Path) -> None:
    from edgeai_core.tasks import PostprocessError

    onnx_path = detector_graph(testkit, tmp_path / "detector.onnx")
    model = make("model", "onnx-file", path=str(onnx_path), task="detection")
    with pytest.raises(
        PostprocessError, match=r"detector.onnx: a detection model needs a postprocess declaration"
    ):
        model.prepare(None)
    classifier = make("model", "onnx-file", path=str(onnx_path), task="classification", postprocess=DETECTOR)
    with pytest.raises(UsageError, match=r"postprocess reads detection or segmentation outputs"):
        classifier.prepare(None)
    plain = make("model", "onnx-file", path=str(onnx_path)).prepare(None)  # no task: "any", as before
    assert "task" not in plain.metadata and "postprocess" not in plain.metadata


@pytest.mark.parametrize(
    "postprocess",
    [
        {"kind": "segmentation", "output": "labels"},
        {"kind": "segmentation", "output": "scores", "layout": "NHWC"},
    ],
    ids=["labels", "nhwc-scores"],
)
def test_segmentation_model_nhwc(
    testkit: Any, vision_host: Any, tmp_path: Path, postprocess: dict[str, Any]
) -> None:
    from edgeai_datasets.vision_metrics import segmentation_metrics

    onnx_path = segmenter_graph(testkit, tmp_path / "segmenter.onnx")
    model = {"path": str(onnx_path), "task": "segmentation", "postprocess": postprocess, "layout": "NHWC"}
    result = edgeai_run(vision_host, tmp_path, _config(model, "shapes-segmentation", layout="NHWC"))
    assert result.exit_code == 0, result.output
    quality = json.loads((tmp_path / "run" / "results.json").read_text())["quality"]
    dataset = vision_host.get("dataset", "shapes-segmentation").create(
        {**SHAPES, "layout": "NHWC"}, where="dataset", context=_context(tmp_path)
    )
    dataset.prepare()
    split = dataset.split("test")
    expected = segmentation_metrics(np.argmax(split.input, axis=3), split.targets, dataset.class_names)
    assert quality["task"] == "segmentation" and quality["primary"] == "miou"
    assert quality["miou"] == pytest.approx(expected["miou"], abs=1e-12)
    assert quality["pixel_accuracy"] == pytest.approx(expected["pixel_accuracy"], abs=1e-12)
