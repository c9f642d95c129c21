"""Registration: records, demo variants, no torch at plugin import, and `edgeai train` through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_core.cli import cli
from edgeai_core.records import ConverterRecord, ModelRecord, RuntimeRecord

HEAVY = ("torch", "onnx", "onnxruntime", "onnxscript", "tensorflow", "tvm", "sklearn", "PIL", "tensorboard")


def test_records(host: Any) -> None:
    cnn, mobilenet = host.get("model", "digits-cnn"), host.get("model", "mobilenetv2")
    assert isinstance(cnn, ModelRecord) and cnn.format == "torch" and cnn.trainable
    assert cnn.tasks == ("classification",) == mobilenet.tasks
    assert cnn.params.defaults() | {"checkpoint": None} == {
        "epochs": 30,
        "batch_size": 32,
        "learning_rate": 0.003,
        "weight_decay": 0.0,
        "schedule": "cosine",
        "channels": 1,
        "image_size": 8,
        "classes": None,
        "checkpoint": None,
        "logdir": None,
        "threads": 1,
    }
    assert {"width", "dropout"} <= set(mobilenet.params.names)
    assert mobilenet.params["image_size"].default == 32 and mobilenet.params["channels"].default == 3
    converter = host.get("converter", "torch-to-onnx")
    assert isinstance(converter, ConverterRecord)
    assert (converter.input_format, converter.output_format) == ("torch", "onnx")
    assert converter.install == "edgeai-torch[onnx]"
    assert converter.params.defaults() == {
        "opset": 17,
        "exporter": "torchscript",
        "verify": True,
        "tolerance": 1e-4,
    }
    runtime = host.get("runtime", "torch")
    assert isinstance(runtime, RuntimeRecord) and runtime.formats == ("torch",)
    assert runtime.params.defaults() == {"threads": 1, "mode": "eager"}
    for record in (cnn, mobilenet, converter, runtime):  # every parameter is documented and has a schema
        schema = record.params.json_schema()
        assert all(p["description"] for p in schema["properties"].values())


def test_demo_variants(host: Any) -> None:
    variants = {v.name: v for v in host.demo_variants()}
    assert {"torch-eager", "torch-traced"} <= set(variants)
    for name, order, mode in (("torch-eager", 10, "eager"), ("torch-traced", 11, "traced")):
        variant = variants[name]
        assert variant.order == order
        # exactly these tables: edgeai-onnx's variants use the same, so the demo trains once
        assert variant.config["dataset"] == {"name": "digits"}
        assert variant.config["model"] == {"name": "digits-cnn", "epochs": 30}
        assert variant.config["runtime"] == {"name": "torch", "threads": 1, "mode": mode}


def test_demo_variants_plan(host: Any, needs_datasets: None) -> None:
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline

    for variant in host.demo_variants():
        # the pruning and QAT variants run on ONNX Runtime (test_optimize.py plans them)
        if variant.name.startswith("torch-") and variant.config["runtime"]["name"] == "torch":
            plan = plan_pipeline(parse_config(dict(variant.config)), host)
            assert plan.runtime.record.name == "torch"
    assert {"torch-eager", "torch-traced"} <= {
        v.name for v in host.demo_variants() if v.config["runtime"]["name"] == "torch"
    }


@pytest.mark.subprocess
def test_plugin_imports_no_heavy_framework(tmp_path: Path) -> None:
    script = f"""
import json, sys
import edgeai_torch, edgeai_torch.plugin as plugin
from edgeai_core.plugins import PluginHost
records = plugin.edgeai_register_models() + plugin.edgeai_register_converters() + plugin.edgeai_register_runtimes()
variants = plugin.edgeai_register_demo_variants()
host = PluginHost(env={{"EDGEAI_LOAD_PLUGINS": "torch"}})
described = [r.params.json_schema() for r in host.records()]
report = {{"heavy": sorted(set(sys.modules) & set({HEAVY!r})), "names": sorted(r.name for r in host.records()),
          "status": host.plugins["torch"].status}}
host.get("runtime", "torch").load()  # positive control: building a component does import torch
report["after_build"] = sorted(set(sys.modules) & set({HEAVY!r}))
json.dump(report, sys.stdout)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["heavy"] == []
    assert "torch" in report["after_build"]
    assert report["status"] == "ok"
    assert {"digits-cnn", "mobilenetv2", "torch-to-onnx", "torch"} <= set(report["names"])


def test_edgeai_train_through_the_cli(host: Any, needs_datasets: None, tmp_path: Path) -> None:
    out = tmp_path / "trained"
    result = CliRunner().invoke(
        cli,
        ["train", "digits-cnn", "digits", "-o", str(out), "--epochs", "2", "--seed", "3", "--json"],
        obj={"host": host},
    )
    assert result.exit_code == 0, result.output
    assert (out / "model.pt").is_file() and (out / "model.pt.edgeai.json").is_file()
    summary = json.loads((out / "train.json").read_text())
    assert summary["model"] == "digits-cnn" and summary["seed"] == 3
    assert summary["metadata"]["epochs"] == 2
    assert summary["params"]["epochs"] == 2
    assert 0 < summary["metadata"]["test_accuracy"] <= 1
    assert summary["artifact"]["format"] == "torch"


def test_cli_errors_name_the_field(host: Any, needs_datasets: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["train", "mobilenetv2", "digits", "-o", str(tmp_path / "x"), "--epochs", "1"],
        obj={"host": host},
    )
    assert result.exit_code == 2
    assert "gives samples of shape (1, 8, 8)" in result.output
    assert "--image-size" in result.output
    result = CliRunner().invoke(
        cli,
        ["train", "digits-cnn", "digits", "-o", str(tmp_path / "y"), "--width", "2"],
        obj={"host": host},
    )
    assert result.exit_code == 2
