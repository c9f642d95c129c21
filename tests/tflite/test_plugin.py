"""The registration module: records, demo variants, planning, the light base install and no heavy import."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import edgeai_tflite.plugin as plugin
from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.records import CompilerRecord, ConverterRecord, ModelRecord, RuntimeRecord

PYPROJECT = Path(__file__).resolve().parents[2] / "packages" / "edgeai-tflite" / "pyproject.toml"
#: Distributions that bring TensorFlow (or need it): none may be in the base install.
TENSORFLOW_DISTRIBUTIONS = (
    "tensorflow",
    "tensorflow-cpu",
    "tf-nightly",
    "keras",
    "tf-keras",
    "tf2onnx",
    "onnx2tf",
)


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_base_install_pulls_no_tensorflow() -> None:
    """`pip install edgeai-core edgeai-tflite` (no extra) must not bring TensorFlow: checked on the declaration
    and on the installed distribution's metadata (requirements without an `extra ==` marker)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    base = {_name(r) for r in project["dependencies"]}
    assert base == {"edgeai-core", "numpy", "ai-edge-litert"}
    compile_extra = {_name(r) for r in project["optional-dependencies"]["compile"]}
    assert {"tensorflow-cpu", "tensorflow", "tf2onnx"} <= compile_extra

    installed = importlib.metadata.requires("edgeai-tflite") or []
    unconditional = {_name(r) for r in installed if not re.search(r"\bextra\s*==", r)}
    assert unconditional == base
    assert not unconditional & set(TENSORFLOW_DISTRIBUTIONS)


def test_records() -> None:
    models = {m.name: m for m in plugin.edgeai_register_models()}
    (compiler,) = plugin.edgeai_register_compilers()
    converters = {c.name: c for c in plugin.edgeai_register_converters()}
    (runtime,) = plugin.edgeai_register_runtimes()
    assert set(models) == {
        "digits-cnn-keras",
        "mobilenetv2-keras",
        "keras-file",
        "savedmodel-dir",
        "tflite-file",
        "shapes-segmenter-keras",
    }
    assert models["shapes-segmenter-keras"].tasks == ("segmentation",)
    for name in ("keras-file", "tflite-file"):  # a user's own files declare their task
        assert {"task", "postprocess"} <= set(models[name].params.defaults())
    assert all(isinstance(m, ModelRecord) for m in models.values())
    assert (models["digits-cnn-keras"].format, models["digits-cnn-keras"].trainable) == ("keras", True)
    assert models["savedmodel-dir"].format == "savedmodel" and models["tflite-file"].format == "tflite"
    assert models["tflite-file"].install == "edgeai-tflite"
    assert models["digits-cnn-keras"].install == "edgeai-tflite[compile]"
    assert models["mobilenetv2-keras"].params.defaults()["implementation"] == "edgeai"
    assert models["mobilenetv2-keras"].params.defaults()["width"] == 0.5
    assert isinstance(compiler, CompilerRecord) and compiler.name == "tflite"
    assert (compiler.input_formats, compiler.output_format, compiler.needs_dataset) == (
        ("keras", "savedmodel", "onnx"),
        "tflite",
        True,
    )
    assert compiler.params.defaults() == {
        "mode": "float32",
        "inference_input_type": "float32",
        "inference_output_type": "float32",
        "target": "default",
        "calibration_samples": 200,
        "batch_size": None,
        "signature": "serving_default",
        "keep_nchw": False,
        "edgetpu_compiler": "edgetpu_compiler",
        "verify": True,
        "tolerance": 1e-4,
    }
    assert compiler.params["mode"].choices == ("float32", "float16", "dynamic", "int8")
    assert compiler.params["inference_input_type"].choices == ("float32", "int8", "uint8")
    assert all(isinstance(c, ConverterRecord) for c in converters.values())
    assert {n: (c.input_format, c.output_format) for n, c in converters.items()} == {
        "keras-to-tflite": ("keras", "tflite"),
        "onnx-to-tflite": ("onnx", "tflite"),
        "keras-to-onnx": ("keras", "onnx"),
    }
    assert isinstance(runtime, RuntimeRecord) and runtime.formats == ("tflite",)
    assert runtime.install == "edgeai-tflite"
    assert runtime.params.defaults() == {
        "threads": 1,
        "delegates": None,
        "delegate_options": None,
        "xnnpack": True,
        "interpreter": "auto",
    }


def test_demo_variants_share_dataset_and_model() -> None:
    variants = {v.name: v for v in plugin.edgeai_register_demo_variants()}
    assert [variants["tflite-float"].order, variants["tflite-int8"].order] == [40, 41]
    assert [variants["segmenter-tflite"].order, variants["segmenter-tflite-int8"].order] == [45, 46]
    digits = {
        "dataset": {"name": "digits", "layout": "NHWC"},
        "model": {"name": "digits-cnn-keras", "epochs": 30},
    }
    shapes = {
        "dataset": {"name": "shapes-segmentation", "layout": "NHWC"},
        "model": {"name": "shapes-segmenter-keras", "epochs": 10},
    }
    assert set(variants) == {"tflite-float", "tflite-int8", "segmenter-tflite", "segmenter-tflite-int8"}
    for name, variant in variants.items():
        table = shapes if name.startswith("segmenter-") else digits
        assert {k: variant.config[k] for k in ("dataset", "model")} == table
        assert variant.config["runtime"] == {"name": "tflite", "threads": 1}
    assert variants["tflite-float"].config["steps"] == [{"name": "tflite", "mode": "float32"}]
    assert variants["tflite-int8"].config["steps"] == [
        {"name": "tflite", "mode": "int8", "inference_input_type": "int8", "inference_output_type": "int8"}
    ]


def test_planning(host: Any) -> None:
    pytest.importorskip("edgeai_datasets")
    for variant in plugin.edgeai_register_demo_variants():
        plan = plan_pipeline(parse_config(dict(variant.config)), host)
        assert [s.record.name for s in plan.steps] == ["tflite"] and plan.final_format == "tflite"
    # no step: the planner bridges keras -> tflite with the converter
    config = {"dataset": {"name": "digits", "layout": "NHWC"}, "model": {"name": "digits-cnn-keras"}}
    plan = plan_pipeline(parse_config({**config, "runtime": {"name": "tflite"}}), host)
    assert [(s.record.name, s.inserted) for s in plan.steps] == [("keras-to-tflite", True)]
    # an ONNX model on the TFLite runtime goes through onnx-to-tflite
    plan = plan_pipeline(
        parse_config({**config, "steps": [{"name": "keras-to-onnx"}], "runtime": {"name": "tflite"}}), host
    )
    assert [s.record.name for s in plan.steps] == ["keras-to-onnx", "onnx-to-tflite"]


@pytest.mark.subprocess
def test_listing_describing_and_planning_import_no_framework(imported_by_planning: Any) -> None:
    heavy = ("tensorflow", "keras", "tf2onnx", "onnx2tf", "ai_edge_litert", "tflite_runtime", "onnx")
    model = {"name": "keras-file", "path": "m.keras"}
    steps = [{"name": "tflite", "mode": "int8"}]
    runtime = {"name": "tflite", "delegates": ["libedgetpu.so.1"]}
    heavy = (*heavy, "onnxruntime", "torch")
    imported = imported_by_planning("edgeai_tflite.plugin", heavy, model=model, steps=steps, runtime=runtime)
    assert imported == []
