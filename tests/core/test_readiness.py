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
from edgeai_core.readiness import NotInstalledError, check_installed, declared_needs, missing_need
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
