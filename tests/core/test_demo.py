"""``edgeai demo`` with demo variants from an in-process plugin (numpy components only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.cli import cli
from edgeai_core.components import Context
from edgeai_core.errors import ArtifactError
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import NormalizedDataset, normalized_for


def test_demo_trains_once_and_runs_every_variant(
    core_host: PluginHost, test_plugin: object, tmp_path: Path
) -> None:
    core_host.register(test_plugin, name="test-plugin", distribution="edgeai-test-plugin")
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "-o", str(out), "--json"], obj={"host": core_host})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    rows = {r["variant"]: r for r in summary["variants"]}
    assert [r["variant"] for r in summary["variants"]] == [
        "mlp-float",
        "mlp-int8",
        "mlp-json",
        "needs-missing",
    ]
    assert rows["needs-missing"]["status"] == "skipped"
    assert "unknown runtime 'vendor-npu'" in rows["needs-missing"]["note"]
    for name in ("mlp-float", "mlp-int8", "mlp-json"):
        assert rows[name]["status"] == "complete"
        doc = json.loads((out / name / "results.json").read_text())
        assert doc["status"] == "complete" and doc["name"] == name
        assert rows[name]["accuracy"] == doc["quality"]["accuracy"] >= 0.9
    assert len(list((out / "_trained").iterdir())) == 1, "one training shared by all variants"
    # the same checkpoint fed every variant: float and converted-JSON runs agree exactly
    float_doc = json.loads((out / "mlp-float" / "results.json").read_text())
    json_doc = json.loads((out / "mlp-json" / "results.json").read_text())
    assert float_doc["quality"]["confusion_matrix"] == json_doc["quality"]["confusion_matrix"]
    assert rows["mlp-int8"]["size_bytes"] < rows["mlp-float"]["size_bytes"]
    assert abs(rows["mlp-int8"]["accuracy"] - rows["mlp-float"]["accuracy"]) <= 0.05


def test_demo_table_list_and_only(core_host: PluginHost, test_plugin: object, tmp_path: Path) -> None:
    core_host.register(test_plugin, name="test-plugin")
    runner = CliRunner()
    listed = runner.invoke(cli, ["demo", "--list"], obj={"host": core_host})
    assert listed.exit_code == 0 and "mlp-int8" in listed.output and "needs-missing" in listed.output
    only = runner.invoke(cli, ["demo", "-o", str(tmp_path), "--only", "mlp-float"], obj={"host": core_host})
    assert only.exit_code == 0, only.output
    assert "mlp-float" in only.stdout and "accuracy" in only.stdout.splitlines()[0].lower()
    assert "validity" in only.stdout.splitlines()[0].lower()
    verdict = json.loads((tmp_path / "mlp-float" / "results.json").read_text())["validity"]["verdict"]
    [row] = [line for line in only.stdout.splitlines() if line.startswith("mlp-float")]
    assert verdict in row.split()
    assert ("NOISY: mlp-float measured while the machine was busy" in only.stderr) == (verdict == "noisy")
    assert not (tmp_path / "mlp-int8").exists()
    bad = runner.invoke(cli, ["demo", "--only", "mlp-flaot"], obj={"host": core_host})
    assert bad.exit_code == 2 and "did you mean 'mlp-float'" in bad.stderr


def test_demo_without_variants_names_what_to_install(core_host: PluginHost) -> None:
    result = CliRunner().invoke(cli, ["demo"], obj={"host": core_host})
    assert result.exit_code == 2
    assert "no demo variants are installed" in result.stderr and "pip install" in result.stderr


def test_input_normalization_is_applied_to_every_split(core_host: PluginHost, tmp_path: Path) -> None:
    data = core_host.get("dataset", "gaussian-blobs").create(
        {"features": 4, "samples": 100}, context=Context(workdir=tmp_path)
    )
    data.prepare()
    io = IOSpec((TensorSpec("input", (None, 4), "float32"),), (TensorSpec("logits", (None, 4), "float32"),))
    model_file = tmp_path / "m.bin"
    model_file.write_bytes(b"x")
    plain = Artifact(model_file, "x", io)
    assert normalized_for(data, plain) is data
    meta = {"input_normalization": {"mean": [1, 2, 3, 4], "std": [2, 2, 2, 2], "axis": 1}}
    wrapped = normalized_for(data, Artifact(model_file, "x", io, metadata=meta))
    assert isinstance(wrapped, NormalizedDataset)
    raw = data.split("test").input
    np.testing.assert_allclose(wrapped.split("test").input, (raw - np.array([1, 2, 3, 4])) / 2, rtol=1e-6)
    assert wrapped.split("test").targets is data.split("test").targets
    assert wrapped.calibration_inputs(5).shape == (5, 4)
    assert wrapped.class_names == data.class_names and wrapped.task == "classification"
    with pytest.raises(ArtifactError, match="input_normalization"):
        normalized_for(data, Artifact(model_file, "x", io, metadata={"input_normalization": {"mean": [1]}}))


def test_demo_task_filter(core_host: PluginHost, test_plugin: object) -> None:
    core_host.register(test_plugin, name="test-plugin")
    runner = CliRunner()
    listed = runner.invoke(cli, ["demo", "--list", "--json"], obj={"host": core_host})
    assert listed.exit_code == 0, listed.output
    assert {r["variant"]: r["task"] for r in json.loads(listed.stdout)}["mlp-float"] == "classification"
    none = runner.invoke(cli, ["demo", "--task", "detection"], obj={"host": core_host})
    assert none.exit_code == 2
    assert "--task: no installed demo variant has task detection; see edgeai demo --list" in none.stderr
