"""The registration module: records, demo variants, entry point, and no heavy import when listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import edgeai_onnx.plugin as plugin
from edgeai_core.records import CompilerRecord, ModelRecord, RuntimeRecord


def test_records() -> None:
    (runtime,) = plugin.edgeai_register_runtimes()
    (compiler,) = plugin.edgeai_register_compilers()
    (model,) = plugin.edgeai_register_models()
    assert isinstance(runtime, RuntimeRecord) and runtime.name == "onnxruntime"
    assert runtime.formats == ("onnx",) and runtime.factory == "edgeai_onnx.runtime:OnnxRuntime"
    assert runtime.params.defaults() == {
        "threads": 1,
        "inter_op_threads": 1,
        "graph_optimization": "all",
        "providers": None,
        "execution_mode": "sequential",
    }
    assert isinstance(compiler, CompilerRecord) and compiler.name == "onnx-quantize"
    assert (compiler.input_formats, compiler.output_format, compiler.needs_dataset) == (
        ("onnx",),
        "onnx",
        True,
    )
    assert compiler.install == "edgeai-onnx[compile]"
    assert compiler.params.defaults() == {
        "mode": "static",
        "per_channel": True,
        "calibration_method": "minmax",
        "calibration_samples": 200,
        "activation_type": "int8",
        "weight_type": "int8",
        "preprocess": True,
        "quant_format": "qdq",
        "exclude_nodes": None,
    }
    assert isinstance(model, ModelRecord) and model.name == "onnx-file"
    assert (model.format, model.tasks, model.trainable) == ("onnx", ("any",), False)
    assert model.params["path"].required
    assert (model.params["check"].default, model.params["check"].choices) == (
        "auto",
        ("auto", "full", "structure"),
    )
    assert model.install == ""  # the structure check needs no onnx package: a target install loads files
    assert [p.name for p in model.params] == [
        "path",
        "check",
        "input_names",
        "output_names",
        "input_shape",
        "layout",
        "mean",
        "std",
        "task",
        "postprocess",
    ]


def test_demo_variants() -> None:
    variants = {v.name: v for v in plugin.edgeai_register_demo_variants()}
    table = {"dataset": {"name": "digits"}, "model": {"name": "digits-cnn", "epochs": 30}}
    assert variants["onnxruntime-float"].order == 20
    assert dict(variants["onnxruntime-float"].config) == {
        **table,
        "runtime": {"name": "onnxruntime", "threads": 1},
    }
    assert variants["onnxruntime-int8"].order == 30
    assert dict(variants["onnxruntime-int8"].config) == {
        **table,
        "steps": [{"name": "onnx-quantize", "mode": "static"}],
        "runtime": {"name": "onnxruntime", "threads": 1},
    }


def test_host_lists_and_plans_without_building(host: Any) -> None:
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline

    names = host.names()
    assert "onnxruntime" in names["runtime"] and "onnx-quantize" in names["compiler"]
    plan = plan_pipeline(
        parse_config(
            {
                "dataset": {"name": "test-digits"},
                "model": {"name": "onnx-file", "path": "model.onnx"},
                "steps": [{"name": "onnx-quantize", "mode": "dynamic"}],
                "runtime": {"name": "onnxruntime", "threads": 2},
            }
        ),
        host,
    )
    assert plan.final_format == "onnx"
    assert plan.runtime.params["threads"] == 2


@pytest.mark.subprocess
def test_listing_describing_and_planning_import_no_framework(imported_by_planning: Any) -> None:
    heavy = ("onnx", "onnxruntime", "torch", "tensorflow", "tvm", "sklearn", "PIL", "sympy")
    model = {"name": "onnx-file", "path": "m.onnx"}
    steps = [{"name": "onnx-quantize", "mode": "float16"}]
    imported = imported_by_planning(
        "edgeai_onnx.plugin", heavy, model=model, steps=steps, runtime={"name": "onnxruntime"}
    )
    assert imported == []


def test_entry_point_is_installed(installed_distribution: Callable[[str], Any]) -> None:
    dist = installed_distribution("edgeai-onnx")
    points = [ep for ep in dist.entry_points if ep.group == "edgeai"]
    assert [(ep.name, ep.value) for ep in points] == [("onnx", "edgeai_onnx.plugin")]
    requires = dist.requires or []
    assert any(r.startswith("onnxruntime") and "extra" not in r for r in requires)
    assert not any(r.startswith("onnx>") and "extra" not in r for r in requires), "onnx must stay an extra"
    assert any(r.startswith("torch<3,>=2.6") or r.startswith("torch>=2.6,<3") for r in requires)
