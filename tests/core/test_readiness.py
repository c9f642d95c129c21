"""Before anything heavy runs: is every component's framework installed, and does a failing step say which?"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_core.builtins.mlp import WeightInt8
from edgeai_core.cli import cli
from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.readiness import (
    NotInstalledError,
    availability,
    check_installed,
    declared_needs,
    install_command,
    missing_need,
)
from edgeai_core.runner import RunFailed, Runner

FAST = {"warmup": 1, "min_count": 5, "min_duration_s": 0.0}
CONFIG: dict[str, Any] = {
    "name": "ready",
    "dataset": {"name": "gaussian-blobs", "classes": 3, "features": 6, "samples": 120},
    "model": {"name": "numpy-mlp", "epochs": 2, "hidden": [8]},
    "steps": [{"name": "weight-int8"}],
    "runtime": {"name": "numpy"},
    "benchmark": FAST,
    "resources": {"enabled": False},
}


def _record(host: PluginHost, kind: str, name: str, **changes: Any) -> Any:
    return dataclasses.replace(host.get(kind, name), **changes)


def test_installed_components_are_ready(core_host: PluginHost) -> None:
    for kind, name in [("model", "numpy-mlp"), ("compiler", "weight-int8"), ("runtime", "numpy")]:
        assert missing_need(core_host.get(kind, name)) is None
    assert declared_needs("edgeai-core")[0] == "edgeai-core"
    assert declared_needs("edgeai-no-such-distribution[x]") == ["edgeai-no-such-distribution"]


def test_a_missing_factory_package_names_the_component_and_the_install(core_host: PluginHost) -> None:
    record = _record(
        core_host, "runtime", "numpy", factory="edgeai_absent_pkg.rt:Runtime", install="edgeai-absent[rt]"
    )
    with pytest.raises(NotInstalledError) as caught:
        check_installed([record])
    assert str(caught.value) == (
        "runtime:numpy needs 'edgeai_absent_pkg', which is not installed: pip install edgeai-absent[rt]"
    )
    assert caught.value.exit_code == 2


def test_a_missing_need_counts_only_for_its_input_format(core_host: PluginHost) -> None:
    record = _record(core_host, "compiler", "weight-int8", needs=("onnx:edgeai_absent_converter",))
    check_installed([(record, "npz-mlp")])  # the need is for onnx inputs only
    with pytest.raises(NotInstalledError) as caught:
        check_installed([(record, "onnx")])
    assert str(caught.value) == (
        "compiler:weight-int8 needs 'edgeai_absent_converter', which is not installed: pip install "
        "edgeai_absent_converter (installed separately: `edgeai describe weight-int8` says how)"
    )


def test_dry_run_exits_2_naming_the_missing_framework(core_host: PluginHost, tmp_path: Path) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps(CONFIG))
    ok = CliRunner().invoke(
        cli, ["run", str(config), "-o", str(tmp_path / "o"), "--dry-run"], obj={"host": core_host}
    )
    assert ok.exit_code == 0, ok.output
    # the fixture's host and its records are fresh for every test
    object.__setattr__(core_host.get("compiler", "weight-int8"), "needs", ("edgeai_absent_quantizer",))
    result = CliRunner().invoke(
        cli, ["run", str(config), "-o", str(tmp_path / "o"), "--dry-run"], obj={"host": core_host}
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: compiler:weight-int8 needs 'edgeai_absent_quantizer', which is not installed: pip install "
        "edgeai_absent_quantizer (installed separately: `edgeai describe weight-int8` says how)"
    )
    assert not (tmp_path / "o").exists()


def test_a_raw_exception_in_a_step_becomes_one_line_naming_step_model_and_cause(
    core_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, artifact: Any, dataset: Any = None) -> Any:
        raise ValueError("zip() argument 2 is longer than argument 1\n  (a framework's second line)")

    monkeypatch.setattr(WeightInt8, "compile", broken)
    plan = plan_pipeline(parse_config(CONFIG), core_host)
    with pytest.raises(RunFailed) as caught:
        Runner(plan, tmp_path / "out", host=core_host).run()
    results = tmp_path / "out" / "results.json"
    assert str(caught.value) == (
        "steps[0] failed: compiler weight-int8 on model.npz: ValueError: zip() argument 2 is longer than "
        f"argument 1 (partial results in {results})"
    )
    assert "\n" not in str(caught.value)
    doc = json.loads(results.read_text())
    assert doc["status"] == "failed" and doc["error"]["stage"] == "steps[0]"


# -- components whose framework is missing: listed unavailable, refused by every planner ---------------------


def _with_missing_module(host: PluginHost) -> PluginHost:
    """``host`` where compiler weight-int8 declares a module that no environment has."""
    object.__setattr__(host.get("compiler", "weight-int8"), "modules", ("edgeai_absent_framework",))
    object.__setattr__(host.get("compiler", "weight-int8"), "install", "edgeai-core[absent]")
    return host


def test_a_declared_module_is_looked_up_without_importing_it(core_host: PluginHost) -> None:
    record = _record(core_host, "compiler", "weight-int8", modules=("json", "edgeai_absent_framework"))
    assert missing_need(record) == ("edgeai_absent_framework", "edgeai-core")
    assert availability(record) == {
        "missing": "edgeai_absent_framework",
        "install": "pip install edgeai-core",
    }
    record = dataclasses.replace(record, install="edgeai-core[absent]")
    assert availability(record) == {
        "missing": "edgeai_absent_framework",
        "install": "pip install 'edgeai-core[absent]'",
    }
    assert availability(_record(core_host, "compiler", "weight-int8", modules=("json",))) is None
    assert install_command("onnx2tf (installed separately)") == "onnx2tf (installed separately)"


def test_list_shows_an_unavailable_component_with_the_install_command(core_host: PluginHost) -> None:
    host = _with_missing_module(core_host)
    result = CliRunner().invoke(cli, ["list", "compilers"], obj={"host": host})
    assert result.exit_code == 0, result.output
    header, row, hint = result.stdout.splitlines()
    assert header.split()[4] == "STATUS"
    assert row.split()[:5] == ["compiler", "weight-int8", "npz-mlp", "->", "npz-mlp"]
    assert row.split()[6] == "unavailable"
    assert hint == (
        "unavailable: compiler:weight-int8 needs 'edgeai_absent_framework', which is not installed: "
        "pip install 'edgeai-core[absent]'"
    )
    listing = json.loads(CliRunner().invoke(cli, ["list", "--json"], obj={"host": host}).stdout)
    by_name = {(r["kind"], r["name"]): r for r in listing}
    assert by_name[("compiler", "weight-int8")]["status"] == "unavailable"
    assert by_name[("compiler", "weight-int8")]["missing"] == "edgeai_absent_framework"
    assert by_name[("compiler", "weight-int8")]["install"] == "pip install 'edgeai-core[absent]'"
    assert by_name[("runtime", "numpy")]["status"] == "ok"
    assert "missing" not in by_name[("runtime", "numpy")]


def test_plugins_marks_an_unavailable_component(core_host: PluginHost) -> None:
    host = _with_missing_module(core_host)
    text = CliRunner().invoke(cli, ["plugins"], obj={"host": host}).stdout
    assert "compiler:weight-int8 (unavailable)" in text
    assert "runtime:numpy (unavailable)" not in text
    assert text.splitlines()[-1] == (
        "unavailable: compiler:weight-int8 needs 'edgeai_absent_framework', which is not installed: "
        "pip install 'edgeai-core[absent]'"
    )
    doc = json.loads(CliRunner().invoke(cli, ["plugins", "--json"], obj={"host": host}).stdout)
    components = {(c["kind"], c["name"]): c for c in doc["plugins"][0]["components"]}
    assert components[("compiler", "weight-int8")]["status"] == "unavailable"
    assert components[("compiler", "weight-int8")]["install"] == "pip install 'edgeai-core[absent]'"
    assert components[("runtime", "numpy")]["status"] == "ok"


@pytest.mark.parametrize("dry_run", [True, False])
def test_run_refuses_a_plan_with_an_unavailable_component_before_building(
    core_host: PluginHost, tmp_path: Path, dry_run: bool
) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps(CONFIG))
    host = _with_missing_module(core_host)
    args = ["run", str(config), "-o", str(tmp_path / "o"), *(["--dry-run"] if dry_run else [])]
    result = CliRunner().invoke(cli, args, obj={"host": host})
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: compiler:weight-int8 needs 'edgeai_absent_framework', which is not installed: pip install "
        "edgeai-core[absent]"
    )
    assert not (tmp_path / "o").exists()


def test_demo_variants_with_an_unavailable_component_are_skipped_before_training(
    core_host: PluginHost,
) -> None:
    from edgeai_core.variants import Variant, plan_variants

    host = _with_missing_module(core_host)
    variants = [
        Variant(name="int8", summary="quantized", config={**CONFIG, "name": "int8"}),
        Variant(name="float", summary="float", config={**CONFIG, "name": "float", "steps": []}),
    ]
    planned, skipped = plan_variants(host, variants)
    assert [v.name for v, _ in planned] == ["float"]
    assert [(row["variant"], row["status"]) for row in skipped] == [("int8", "skipped")]
    assert skipped[0]["note"] == (
        "compiler:weight-int8 needs 'edgeai_absent_framework', which is not installed: pip install "
        "edgeai-core[absent]"
    )
