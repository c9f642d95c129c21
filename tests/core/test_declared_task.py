"""A user's own model file declaring its task and postprocess (edgeai_core.tasks.declared_task, the planner)."""

from __future__ import annotations

from typing import Any

import pytest

from edgeai_core.api import IOSpec, Param, PostprocessError, TensorSpec, declared_task, task_params
from edgeai_core.config import parse_config
from edgeai_core.errors import PlanError
from edgeai_core.planner import plan_pipeline
from edgeai_core.records import DatasetRecord, ModelRecord

BOXES = {"kind": "boxes", "boxes": 0, "scores": 1, "labels": 2}


def _io(*shapes: tuple[Any, ...]) -> IOSpec:
    outputs = tuple(TensorSpec(f"out{i}", shape, "float32") for i, shape in enumerate(shapes))
    return IOSpec((TensorSpec("image", (None, 3, 32, 32), "float32"),), outputs)


DETECTOR_IO = _io((None, 10, 4), (None, 10), (None, 10))
SEGMENTER_IO = _io((None, 32, 32, 4))


def test_nothing_declared_keeps_any_semantics() -> None:
    assert declared_task(None, None, None, DETECTOR_IO, "m.onnx") == {}
    assert declared_task(None, None, "classification", DETECTOR_IO, "m.onnx") == {}
    assert declared_task("classification", None, "classification", DETECTOR_IO, "m.onnx") == {
        "task": "classification"
    }


def test_the_task_comes_from_the_declaration_or_the_dataset() -> None:
    assert declared_task(None, BOXES, None, DETECTOR_IO, "m.onnx") == {
        "task": "detection",
        "postprocess": BOXES,
    }
    nhwc = {"kind": "segmentation", "layout": "NHWC"}
    assert declared_task(None, nhwc, "segmentation", SEGMENTER_IO, "m.onnx") == {
        "task": "segmentation",
        "postprocess": nhwc,
    }
    # a segmentation dataset and no declaration: the default decoder (scores NCHW or labels)
    assert declared_task(None, None, "segmentation", SEGMENTER_IO, "m.onnx") == {
        "task": "segmentation",
        "postprocess": {"kind": "segmentation", "output": 0},
    }


@pytest.mark.parametrize(
    ("task", "spec", "dataset", "message"),
    [
        (
            "detection",
            None,
            "detection",
            "m.onnx: a detection model needs a postprocess declaration saying how to read its outputs",
        ),
        (
            "detection",
            {**BOXES, "labels": 5},
            None,
            "m.onnx: postprocess.labels = 5, but the model has 3 output(s): out0, out1, out2",
        ),
        (
            "segmentation",
            None,
            "detection",
            "m.onnx: the model is declared a segmentation model (task/postprocess), but the dataset is a "
            "detection dataset",
        ),
        (
            "classification",
            BOXES,
            None,
            "m.onnx: postprocess reads detection or segmentation outputs, not classification ones; drop it",
        ),
        (
            None,
            {"kind": "yolo"},
            None,
            "m.onnx: postprocess.kind must be one of centernet, boxes, segmentation",
        ),
        (None, [1, 2], None, "m.onnx: postprocess must be a table, got list"),
    ],
    ids=[
        "undeclared-detector",
        "missing-output",
        "task-mismatch",
        "classifier",
        "unknown-kind",
        "not-a-table",
    ],
)
def test_mismatches_are_one_line(task: Any, spec: Any, dataset: Any, message: str) -> None:
    with pytest.raises(PostprocessError) as caught:
        declared_task(task, spec, dataset, DETECTOR_IO, "m.onnx")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_task_params_are_declared_alike() -> None:
    task, postprocess = task_params()
    assert isinstance(task, Param) and task.name == "task" and task.default is None
    assert task.choices == ("classification", "detection", "segmentation")
    assert postprocess.name == "postprocess" and postprocess.type == "dict"


def _host() -> Any:
    from edgeai_core import hookimpl
    from edgeai_core.plugins import PluginHost

    class Plugin:
        @hookimpl
        def edgeai_register_models(self) -> list[ModelRecord]:
            return [
                ModelRecord(
                    name="my-file",
                    summary="a model file",
                    factory="x:Y",
                    format="onnx",
                    tasks=("any",),
                    trainable=False,
                    params=(Param("path", "path", default=None, help="the file"), *task_params()),
                )
            ]

        @hookimpl
        def edgeai_register_datasets(self) -> list[DatasetRecord]:
            return [
                DatasetRecord(name="boxes-data", summary="d", factory="x:Y", task="detection"),
                DatasetRecord(name="noise", summary="d", factory="x:Y", task="any"),
            ]

    import edgeai_core
    import edgeai_core.plugin

    host = PluginHost(discover=False, env={})
    host.register(
        edgeai_core.plugin, name="core", distribution="edgeai-core", version=edgeai_core.__version__
    )
    host.register(Plugin(), name="test", distribution="test", version="0")
    return host


def _plan(host: Any, dataset: str, **model: Any) -> Any:
    config = {
        "dataset": {"name": dataset},
        "model": {"name": "my-file", **model},
        "runtime": {"name": "onnxruntime"},
    }
    return plan_pipeline(parse_config(config), host)


def test_planner_refuses_a_declared_task_that_is_not_the_datasets() -> None:
    host = _host()
    with pytest.raises(PlanError) as caught:
        _plan(host, "boxes-data", task="segmentation")
    assert str(caught.value) == (
        "model.task: model 'my-file' is declared a segmentation model, but dataset 'boxes-data' is a "
        "detection dataset"
    )
    with pytest.raises(
        PlanError, match=r"^model.postprocess.kind: model 'my-file' is declared a segmentation"
    ):
        _plan(host, "boxes-data", postprocess={"kind": "segmentation"})
