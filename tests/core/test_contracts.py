"""Contract checks: a component returning the wrong thing fails with one line naming plugin, component,
method, what came back and what was expected (real misbehaving components, registered in-process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_core.cli import cli
from edgeai_core.config import parse_config
from edgeai_core.contracts import ContractError
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import RunFailed, Runner

SUPPORT = Path(__file__).parent / "support"
FAST = {"warmup": 2, "min_count": 10, "min_duration_s": 0.0}
BLOBS = {"classes": 3, "features": 6, "samples": 300, "separation": 2.5}
ARTIFACT = "an Artifact (edgeai_core.api.Artifact) with an IO spec"
SPLIT = "a Split (edgeai_core.api.Split) whose targets align with its inputs"


@pytest.fixture
def host(core_host: PluginHost, support_plugin: Any) -> PluginHost:
    """The core's built-ins plus the misbehaving plugin, as distribution ``acme-edge``."""
    plugin = support_plugin("edgeai_misbehaving_plugin")
    core_host.register(plugin, name="acme", distribution="acme-edge", version="0.3")
    return core_host


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "contract",
        "dataset": {"name": "gaussian-blobs", **BLOBS},
        "model": {"name": "numpy-mlp", "epochs": 5, "hidden": [8]},
        "runtime": {"name": "numpy"},
        "benchmark": FAST,
        "resources": {"enabled": False},
    }
    config.update(overrides)
    return config


def _fail(host: PluginHost, tmp_path: Path, **overrides: Any) -> tuple[ContractError, dict[str, Any]]:
    plan = plan_pipeline(parse_config(_config(**overrides)), host)
    with pytest.raises(RunFailed) as caught:
        Runner(plan, tmp_path / "out", host=host).run()
    cause = caught.value.__cause__
    assert isinstance(cause, ContractError), repr(cause)
    assert str(caught.value) == f"{cause} (partial results in {tmp_path / 'out' / 'results.json'})"
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["status"] == "failed" and doc["error"]["type"] == "ContractError"
    assert doc["error"]["message"] == str(cause)
    return cause, doc


def _fields(error: ContractError) -> tuple[str, str, str, str, str, str]:
    return error.plugin, error.kind, error.component, error.method, error.got, error.expected


def test_model_prepare_returning_a_path(host: PluginHost, tmp_path: Path) -> None:
    error, doc = _fail(host, tmp_path, model={"name": "path-net", "epochs": 5, "hidden": [8]})
    assert _fields(error) == ("acme-edge", "model", "path-net", "Model.prepare", "PosixPath", ARTIFACT)
    assert str(error) == (
        "plugin 'acme-edge' model 'path-net': Model.prepare returned PosixPath, "
        "expected an Artifact (edgeai_core.api.Artifact) with an IO spec"
    )
    assert doc["error"]["stage"] == "model"


def test_model_prepare_returning_an_artifact_without_io(host: PluginHost, tmp_path: Path) -> None:
    error, _ = _fail(host, tmp_path, model={"name": "no-io-net", "epochs": 5, "hidden": [8]})
    assert _fields(error) == (
        "acme-edge", "model", "no-io-net", "Model.prepare", "an Artifact whose io is None", ARTIFACT
    )  # fmt: skip


def test_runtime_infer_returning_an_array_instead_of_a_list(host: PluginHost, tmp_path: Path) -> None:
    error, doc = _fail(host, tmp_path, runtime={"name": "array-rt"})
    assert str(error) == (
        "plugin 'acme-edge' runtime 'array-rt': Runtime.infer returned ndarray, "
        "expected a list with one array per output (1 output)"
    )
    assert doc["error"]["stage"] == "evaluation"
    assert doc["latency"]["stats"]["count"] >= 10, "the benchmark before it was kept"


def test_runtime_infer_with_too_many_outputs_or_rows(host: PluginHost, tmp_path: Path) -> None:
    error, _ = _fail(host, tmp_path / "a", runtime={"name": "two-out-rt"})
    assert _fields(error) == (
        "acme-edge", "runtime", "two-out-rt", "Runtime.infer", "a list of 2 items",
        "a list with one array per output (1 output)",
    )  # fmt: skip
    error, _ = _fail(host, tmp_path / "b", runtime={"name": "one-row-rt"}, evaluation={"batch_size": 16})
    assert _fields(error) == (
        "acme-edge", "runtime", "one-row-rt", "Runtime.infer",
        "output 'logits' with 1 rows for a batch of 16 samples", "one row per sample",
    )  # fmt: skip


def test_dataset_split_whose_targets_do_not_align(host: PluginHost, tmp_path: Path) -> None:
    error, doc = _fail(host, tmp_path, dataset={"name": "short-targets", **BLOBS})
    assert _fields(error) == (
        "acme-edge", "dataset", "short-targets", "Dataset.split('test')",
        "a Split with 60 inputs and 59 targets", SPLIT,
    )  # fmt: skip
    assert doc["error"]["stage"] == "benchmark"


def test_dataset_split_returning_a_tuple(host: PluginHost, tmp_path: Path) -> None:
    error, _ = _fail(host, tmp_path, dataset={"name": "tuple-split", **BLOBS})
    assert _fields(error) == ("acme-edge", "dataset", "tuple-split", "Dataset.split('test')", "tuple", SPLIT)


def test_compiler_returning_another_format(host: PluginHost, tmp_path: Path) -> None:
    error, doc = _fail(host, tmp_path, steps=[{"name": "wrong-format"}])
    assert str(error) == (
        "plugin 'acme-edge' compiler 'wrong-format': Compiler.compile returned an Artifact in format "
        "'mlp-json', expected format 'npz-mlp' (the output format its record declares)"
    )
    assert doc["error"]["stage"] == "steps[0]"


def test_converter_returning_none(host: PluginHost, tmp_path: Path) -> None:
    error, _ = _fail(host, tmp_path, steps=[{"name": "none-converter"}], runtime={"name": "copy-rt"})
    assert _fields(error) == (
        "acme-edge",
        "converter",
        "none-converter",
        "Converter.convert",
        "None",
        ARTIFACT,
    )


def test_the_cli_shows_one_line(host: PluginHost, tmp_path: Path) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps(_config(model={"name": "path-net", "epochs": 5, "hidden": [8]})))
    result = CliRunner().invoke(cli, ["run", str(config), "-o", str(tmp_path / "out")], obj={"host": host})
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: plugin 'acme-edge' model 'path-net': Model.prepare returned PosixPath, expected an Artifact "
        f"(edgeai_core.api.Artifact) with an IO spec (partial results in {tmp_path / 'out' / 'results.json'})"
    ]


def test_edgeai_train_checks_what_train_returned(host: PluginHost, tmp_path: Path) -> None:
    args = ["train", "path-net", "gaussian-blobs", "--epochs", "2", "-o", str(tmp_path)]
    result = CliRunner().invoke(cli, args, obj={"host": host})
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: plugin 'acme-edge' model 'path-net': Model.train returned PosixPath, "
        "expected an Artifact (edgeai_core.api.Artifact) with an IO spec"
    )
