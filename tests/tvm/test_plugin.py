"""The registration module: records, demo variants, entry point, and no heavy import when listing or planning."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

import edgeai_tvm.plugin as plugin
from edgeai_core.records import CompilerRecord, RuntimeRecord


def test_records() -> None:
    (compiler,) = plugin.edgeai_register_compilers()
    (runtime,) = plugin.edgeai_register_runtimes()
    assert isinstance(compiler, CompilerRecord) and compiler.name == "tvm"
    assert (compiler.input_formats, compiler.output_format, compiler.needs_dataset) == (
        ("onnx",),
        "tvm",
        False,
    )
    assert compiler.factory == "edgeai_tvm.compiler:TvmCompiler" and compiler.install == "edgeai-tvm[compile]"
    assert compiler.params.defaults() == {
        "target": "llvm",
        "target_options": None,
        "opt_level": 3,
        "batch": "1",
        "tuning_trials": 0,
        "tuning_dir": None,
        "cross_compiler": None,
    }
    assert compiler.params["target"].choices == ("llvm", "aarch64", "armv7")
    assert isinstance(runtime, RuntimeRecord) and runtime.name == "tvm" and runtime.formats == ("tvm",)
    assert runtime.factory == "edgeai_tvm.runtime:TvmRuntime" and runtime.install == "edgeai-tvm"
    assert runtime.params.defaults() == {"threads": 1}


def test_json_schema_of_the_compiler() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    (compiler,) = plugin.edgeai_register_compilers()
    schema = compiler.params.json_schema()
    jsonschema.validate(
        {"target": "aarch64", "target_options": {"mcpu": "cortex-a72"}, "batch": "dynamic"}, schema
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"target": "sparc"}, schema)


def test_demo_variants() -> None:
    variants = {v.name: v for v in plugin.edgeai_register_demo_variants()}
    table = {"dataset": {"name": "digits"}, "model": {"name": "digits-cnn", "epochs": 30}}
    assert variants["tvm-float"].order == 50 and variants["tvm-int8"].order == 51
    assert dict(variants["tvm-float"].config) == {
        **table,
        "steps": [{"name": "tvm"}],
        "runtime": {"name": "tvm", "threads": 1},
    }
    assert dict(variants["tvm-int8"].config) == {
        **table,
        "steps": [{"name": "onnx-quantize", "mode": "static"}, {"name": "tvm"}],
        "runtime": {"name": "tvm", "threads": 1},
    }


def test_demo_tables_match_the_other_plugins() -> None:
    """Same dataset and model tables as edgeai-onnx's variants: the demo trains the CNN once for all."""
    onnx_plugin = pytest.importorskip("edgeai_onnx.plugin")
    ours = plugin.edgeai_register_demo_variants()[0].config
    theirs = onnx_plugin.edgeai_register_demo_variants()[0].config
    assert (ours["dataset"], ours["model"]) == (theirs["dataset"], theirs["model"])


def test_entry_point_is_installed(installed_distribution: Callable[[str], Any]) -> None:
    dist = installed_distribution("edgeai-tvm")
    points = [ep for ep in dist.entry_points if ep.group == "edgeai"]
    assert [(ep.name, ep.value) for ep in points] == [("tvm", "edgeai_tvm.plugin")]


LISTING = textwrap.dedent(
    """
    import json, sys
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.plugins import PluginHost

    host = PluginHost()
    names = host.names()
    described = host.get("compiler", "tvm").params.json_schema()
    planned = None
    if "digits-cnn" in names["model"] and "torch-to-onnx" in names["converter"]:
        config = {"dataset": {"name": "digits"}, "model": {"name": "digits-cnn"},
                  "steps": [{"name": "tvm", "batch": "dynamic"}], "runtime": {"name": "tvm"}}
        planned = [s.record.name for s in plan_pipeline(parse_config(config), host).steps]
    heavy = [m for m in ("tvm", "onnx", "onnxruntime", "torch", "xgboost") if m in sys.modules]
    print(json.dumps({"compilers": names["compiler"], "runtimes": names["runtime"], "planned": planned,
                      "heavy": heavy, "schema": sorted(described["properties"])}))
    """
)


@pytest.mark.subprocess
def test_listing_and_planning_import_no_framework() -> None:
    try:
        importlib.metadata.distribution("edgeai-tvm")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("edgeai-tvm is not installed as a distribution")
    result = subprocess.run(
        [sys.executable, "-c", LISTING], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert "tvm" in report["compilers"] and "tvm" in report["runtimes"]
    assert report["heavy"] == []
    assert "tuning_dir" in report["schema"]
    if report["planned"] is not None:
        assert report["planned"] == ["torch-to-onnx", "tvm"]


def test_every_component_and_parameter_is_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "packages" / "edgeai-tvm" / "README.md").read_text(
        "utf-8"
    )
    records = [*plugin.edgeai_register_compilers(), *plugin.edgeai_register_runtimes()]
    for record in records:
        assert f"### {record.kind} `{record.name}`" in readme
        for param in record.params:
            assert f"| `{param.name}` |" in readme, (record.name, param.name)
    for variant in plugin.edgeai_register_demo_variants():
        assert f"`{variant.name}`" in readme
    for preset in plugin.edgeai_register_compilers()[0].params["target"].choices:
        assert f"| `{preset}` |" in readme
