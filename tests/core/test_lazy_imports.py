"""The lazy-import promise: listing, describing and planning never import a heavy framework.

Fake ``torch``, ``tensorflow``, ``tvm``, ``onnxruntime`` (and ``keras``, ``jax``) modules come first on the
PYTHONPATH of a subprocess, next to an installed test plugin whose factories import them. Each check runs
in a fresh interpreter and reports which of them ended up in ``sys.modules``; building the components
(the positive control) shows the fakes are really what an import would pick up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

HEAVY = ("torch", "tensorflow", "tvm", "onnxruntime", "keras", "jax")

HEAVY_PLUGIN = '''
"""A plugin whose components need heavy frameworks; the module itself imports none."""

from edgeai_core import CompilerRecord, ConverterRecord, Param, ProbeRecord, RuntimeRecord, hookimpl


@hookimpl
def edgeai_register_runtimes():
    threads = Param("threads", "int", default=1, minimum=1, help="intra-op threads")
    return [RuntimeRecord(name="heavy-rt", summary="Runtime on torch", factory="heavyplug.torch_runtime:TorchRuntime",
                          formats=("npz-mlp", "heavy-onnx"), install="heavy-edgeai[torch]", params=(threads,))]


@hookimpl
def edgeai_register_compilers():
    target = Param("target", "str", default="llvm", help="TVM target")
    return [CompilerRecord(name="heavy-tvm", summary="Compile with TVM", factory="heavyplug.tvm_compiler:TvmCompiler",
                           input_formats=("npz-mlp",), output_format="tvm-module", params=(target,))]


@hookimpl
def edgeai_register_converters():
    return [ConverterRecord(name="heavy-tf-conv", summary="tvm-module to heavy-onnx through tensorflow",
                            factory="heavyplug.tf_converter:TfConverter", input_format="tvm-module",
                            output_format="heavy-onnx")]


@hookimpl
def edgeai_register_probes():
    return [ProbeRecord(name="heavy-ort-probe", summary="Probe via onnxruntime", factory="heavyplug.ort_probe:Probe")]
'''

FACTORIES = {
    "heavyplug/torch_runtime.py": "import torch\n\n\nclass TorchRuntime:\n    pass\n",
    "heavyplug/tvm_compiler.py": "import tvm\n\n\nclass TvmCompiler:\n    pass\n",
    "heavyplug/tf_converter.py": "import tensorflow\n\n\nclass TfConverter:\n    pass\n",
    "heavyplug/ort_probe.py": "import onnxruntime\n\n\nclass Probe:\n    pass\n",
}

PIPELINE = """
name = "heavy"

[dataset]
name = "gaussian-blobs"

[model]
name = "numpy-mlp"
epochs = 3

[[steps]]
name = "weight-int8"

[[steps]]
name = "heavy-tvm"

[runtime]
name = "heavy-rt"
threads = 2
"""

# Runs in the subprocess: does what its first argument says, then writes what was imported as JSON.
PROBE = """
import json
import sys

HEAVY = set(__HEAVY__)
report = {}
mode, out, args = sys.argv[1], sys.argv[2], sys.argv[3:]

if mode == "cli":
    from edgeai_core.cli import main

    try:
        main(args)
        report["exit"] = 0
    except SystemExit as exc:
        report["exit"] = exc.code if isinstance(exc.code, int) else 1
elif mode == "api":
    from edgeai_core.cli.info import record_json
    from edgeai_core.config import load_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.plugins import PluginHost, heavy_modules_loaded

    host = PluginHost()
    records = host.records()
    report["records"] = [r.qualified_name for r in records]
    report["schemas"] = [r.params.json_schema(title=r.qualified_name, description=r.summary) for r in records]
    report["described"] = [record_json(r) for r in records]
    plan = plan_pipeline(load_config(args[0]), host)
    report["plan"] = plan.to_json()
    report["lines"] = plan.describe()
    report["library_view"] = heavy_modules_loaded()
elif mode == "load":
    from edgeai_core.plugins import PluginHost

    host = PluginHost()
    for qualified in args:
        kind, _, name = qualified.partition(":")
        report.setdefault("loaded", []).append(host.get(kind, name).load().__name__)
else:
    raise SystemExit(f"unknown mode {mode}")

report["heavy"] = sorted(set(sys.modules) & HEAVY)
report["numpy"] = "numpy" in sys.modules
with open(out, "w", encoding="utf-8") as fh:
    json.dump(report, fh)
""".replace("__HEAVY__", repr(HEAVY))


@pytest.fixture(scope="module")
def lazy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lazy")
    fakes = root / "fakes"
    fakes.mkdir()
    for name in HEAVY:
        (fakes / f"{name}.py").write_text(f'"""A fake {name}: importing it is what the tests detect."""\n')
    site = root / "site"
    (site / "heavyplug").mkdir(parents=True)
    (site / "heavyplug" / "__init__.py").write_text("")
    (site / "heavyplug" / "plugin.py").write_text(textwrap.dedent(HEAVY_PLUGIN).lstrip())
    for rel, text in FACTORIES.items():
        (site / rel).write_text(text)
    info = site / "heavy_edgeai-0.5.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: heavy-edgeai\nVersion: 0.5.0\n")
    (info / "entry_points.txt").write_text("[edgeai]\nheavy = heavyplug.plugin\n")
    (info / "RECORD").write_text("")
    (info / "INSTALLER").write_text("test\n")
    config = root / "heavy.toml"
    config.write_text(PIPELINE.lstrip())
    probe = root / "probe.py"
    probe.write_text(PROBE)
    return {"root": root, "fakes": fakes, "site": site, "config": config, "probe": probe}


def probe(lazy: dict[str, Path], mode: str, *args: str) -> dict:
    out = lazy["root"] / f"report-{os.getpid()}-{mode}-{abs(hash(args))}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    # the fakes come FIRST, so they shadow any real framework installed in this environment
    env["PYTHONPATH"] = os.pathsep.join([str(lazy["fakes"]), str(lazy["site"])])
    proc = subprocess.run(
        [sys.executable, str(lazy["probe"]), mode, str(out), *args],
        env=env,
        cwd=lazy["root"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    report["stdout"], report["stderr"] = proc.stdout, proc.stderr
    return report


def test_positive_control_building_imports_the_frameworks(lazy: dict[str, Path]) -> None:
    report = probe(lazy, "load", "runtime:heavy-rt")
    assert report["loaded"] == ["TorchRuntime"]
    assert report["heavy"] == ["torch"]

    everything = probe(
        lazy,
        "load",
        "runtime:heavy-rt",
        "compiler:heavy-tvm",
        "converter:heavy-tf-conv",
        "probe:heavy-ort-probe",
    )
    assert everything["heavy"] == ["onnxruntime", "tensorflow", "torch", "tvm"]


def test_listing_describing_and_planning_import_no_framework(lazy: dict[str, Path]) -> None:
    report = probe(lazy, "api", str(lazy["config"]))
    assert {
        "runtime:heavy-rt",
        "compiler:heavy-tvm",
        "converter:heavy-tf-conv",
        "probe:heavy-ort-probe",
    } <= set(report["records"])
    assert "runtime:numpy" in report["records"]
    schemas = {s["title"]: s for s in report["schemas"]}
    assert schemas["runtime:heavy-rt"]["properties"]["threads"]["default"] == 1
    plan = report["plan"]
    assert plan["runtime"]["name"] == "heavy-rt"
    assert plan["runtime"]["provider"] == "heavy-edgeai"
    assert plan["runtime"]["params"] == {"threads": 2}
    assert [(s["name"], s["inserted"]) for s in plan["steps"]] == [
        ("weight-int8", False),
        ("heavy-tvm", False),
        ("heavy-tf-conv", True),
    ]
    assert plan["final_format"] == "heavy-onnx"
    assert report["heavy"] == []
    assert report["library_view"] == []


@pytest.mark.parametrize(
    "args",
    [
        ("plugins", "--json"),
        ("plugins",),
        ("list",),
        ("list", "--json"),
        ("list", "runtimes"),
        ("describe", "heavy-rt"),
        ("describe", "heavy-rt", "--json"),
        ("describe", "heavy-tvm"),
        ("describe", "converter:heavy-tf-conv"),
        ("--help",),
        ("train", "numpy-mlp", "gaussian-blobs", "--help"),
    ],
    ids=lambda a: " ".join(a),
)
def test_cli_reading_commands_import_no_framework(lazy: dict[str, Path], args: tuple[str, ...]) -> None:
    report = probe(lazy, "cli", *args)
    assert report["exit"] == 0, report["stderr"]
    assert report["heavy"] == []
    assert report["stderr"] == ""  # the heavy plugin loaded cleanly


def test_cli_dry_run_imports_no_framework(lazy: dict[str, Path]) -> None:
    report = probe(lazy, "cli", "run", "--dry-run", str(lazy["config"]), "-o", str(lazy["root"] / "out"))
    assert report["exit"] == 0, report["stderr"]
    assert "heavy-tvm" in report["stdout"]
    assert "heavy-tf-conv" in report["stdout"] and "(inserted)" in report["stdout"]
    assert "heavy-rt" in report["stdout"]
    assert report["heavy"] == []
    assert not (lazy["root"] / "out").exists()


def test_the_plugins_command_does_not_even_import_numpy(lazy: dict[str, Path]) -> None:
    report = probe(lazy, "cli", "plugins", "--json")
    assert report["exit"] == 0, report["stderr"]
    plugins = {p["name"]: p for p in json.loads(report["stdout"])["plugins"]}
    assert plugins["heavy"]["status"] == "ok"
    assert plugins["heavy"]["distribution"] == "heavy-edgeai"
    assert report["numpy"] is False
    assert report["heavy"] == []


def test_cli_start_up_does_not_import_numpy(lazy: dict[str, Path]) -> None:
    report = probe(lazy, "cli", "--help")
    assert report["exit"] == 0, report["stderr"]
    assert report["numpy"] is False


def test_the_numpy_check_can_fail(lazy: dict[str, Path]) -> None:
    report = probe(lazy, "load", "model:numpy-mlp")
    assert report["loaded"] == ["NumpyMlp"]
    assert report["numpy"] is True
    assert report["heavy"] == []


def test_the_check_sees_a_plugin_that_imports_a_framework_eagerly(
    lazy: dict[str, Path], tmp_path: Path
) -> None:
    """A plugin module that imports torch at module level is caught by the same check."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "eager_edgeai.py").write_text("import torch  # the mistake the hookspec rules forbid\n")
    info = site / "eager_edgeai-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: eager-edgeai\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[edgeai]\neager = eager_edgeai\n")
    (info / "RECORD").write_text("")
    out = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    env["PYTHONPATH"] = os.pathsep.join([str(lazy["fakes"]), str(site)])
    proc = subprocess.run(
        [sys.executable, str(lazy["probe"]), "cli", str(out), "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["heavy"] == ["torch"]
