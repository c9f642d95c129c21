"""The local runner end to end, in-process, with the results checked against the shipped schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from edgeai_core.config import parse_config
from edgeai_core.measurement import PARTIAL_FILE, load_schema, recover_partial
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import LocalRunner, RunFailed

FAST = {"warmup": 5, "min_count": 60, "min_duration_s": 0.0}


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "test-run",
        "seed": 0,
        "dataset": {"name": "gaussian-blobs", "classes": 4, "features": 8, "samples": 600, "separation": 2.5},
        "model": {"name": "numpy-mlp", "epochs": 20, "hidden": [16]},
        "steps": [{"name": "weight-int8"}],
        "runtime": {"name": "numpy"},
        "benchmark": dict(FAST),
        "resources": {"interval_s": 0.01},
    }
    config.update(overrides)
    return config


def _validate(doc: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message[:200]}" for e in errors]


def _run(host: PluginHost, tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    plan = plan_pipeline(parse_config(config), host)
    return LocalRunner(plan, tmp_path / "out", host=host, command=["edgeai", "run", "test"]).run()


def test_complete_run_writes_a_valid_document(core_host: PluginHost, tmp_path: Path) -> None:
    doc = _run(core_host, tmp_path, _config())
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(doc))
    _validate(on_disk)
    assert on_disk["status"] == "complete" and on_disk["error"] is None
    assert [s["kind"] for s in on_disk["steps"]] == ["dataset", "model", "compiler", "runtime-load"]
    model_step, compiler_step = on_disk["steps"][1], on_disk["steps"][2]
    assert compiler_step["input_format"] == compiler_step["output_format"] == "npz-mlp"
    assert compiler_step["artifact"]["size_bytes"] < model_step["artifact"]["size_bytes"]
    assert (tmp_path / "out" / compiler_step["artifact"]["path"]).is_file(), (
        "artifact paths are relative to the output"
    )
    latency = on_disk["latency"]
    assert latency["warmup"]["count"] == 5 == len(latency["warmup"]["samples_ns"])
    assert latency["stats"]["count"] == len(latency["samples_ns"]) >= 60
    assert latency["stats"]["median"] == float(np.median(latency["samples_ns"]))
    assert latency["stop_reason"] == "min_count_and_duration"
    quality = on_disk["quality"]
    assert quality["accuracy"] >= 0.9 and quality["num_samples"] == 120 and quality["split"] == "test"
    assert np.sum(quality["confusion_matrix"]) == 120
    host_series = on_disk["resources"]["host"]
    assert len(host_series["t_s"]) >= 2 and max(v for v in host_series["rss_bytes"] if v) > 10_000_000
    prov = on_disk["provenance"]
    assert prov["plugins"] == {"edgeai-core": "0.1.0"}
    assert prov["frameworks"]["numpy"] == np.__version__
    assert prov["command"] == "edgeai run test" and prov["seed"] == 0
    assert prov["config"]["model"]["epochs"] == 20
    assert prov["started_at"] <= prov["finished_at"]
    assert on_disk["plan"]["final_format"] == "npz-mlp"


def test_same_seed_gives_the_same_model_and_quality(core_host: PluginHost, tmp_path: Path) -> None:
    a = _run(core_host, tmp_path / "a", _config())
    b = _run(core_host, tmp_path / "b", _config())
    assert a["quality"]["confusion_matrix"] == b["quality"]["confusion_matrix"]
    assert a["steps"][1]["metadata"]["final_loss"] == b["steps"][1]["metadata"]["final_loss"]


def test_planner_inserted_converter_runs(core_host: PluginHost, tmp_path: Path, test_plugin: object) -> None:
    core_host.register(test_plugin, name="test-plugin", distribution="edgeai-test-plugin", version="9.9")
    reference = _run(core_host, tmp_path / "ref", _config(steps=[]))
    doc = _run(core_host, tmp_path / "conv", _config(steps=[], runtime={"name": "json-mlp"}))
    _validate(doc)
    inserted = doc["steps"][2]
    assert (inserted["name"], inserted["kind"], inserted["inserted"]) == ("npz-to-json", "converter", True)
    assert (inserted["input_format"], inserted["output_format"]) == ("npz-mlp", "mlp-json")
    assert doc["quality"]["confusion_matrix"] == reference["quality"]["confusion_matrix"]
    assert doc["provenance"]["plugins"] == {"edgeai-core": "0.1.0", "edgeai-test-plugin": "9.9"}


def test_failure_mid_benchmark_keeps_what_was_measured(
    core_host: PluginHost, tmp_path: Path, test_plugin: object
) -> None:
    core_host.register(test_plugin, name="test-plugin")
    config = _config(runtime={"name": "flaky", "fail_after": 40})
    with pytest.raises(RunFailed, match="benchmark failed: the device stopped answering") as err:
        _run(core_host, tmp_path, config)
    assert err.value.results == tmp_path / "out" / "results.json"
    doc = json.loads(err.value.results.read_text())
    _validate(doc)
    assert doc["status"] == "failed"
    assert doc["error"]["stage"] == "benchmark" and doc["error"]["type"] == "RuntimeFailure"
    assert [s["kind"] for s in doc["steps"]] == ["dataset", "model", "compiler", "runtime-load"]
    assert doc["resources"]["host"] is not None, "resource series survive a failure"
    recovered = recover_partial(tmp_path / "out" / PARTIAL_FILE)
    assert recovered["status"] == "failed"
    assert recovered["latency"]["warmup"]["count"] == 5
    assert len(recovered["latency"]["samples_ns"]) == 34, "every sample before the failure was kept"


def test_run_without_dataset_uses_synthetic_inputs(core_host: PluginHost, tmp_path: Path) -> None:
    trained = _run(core_host, tmp_path / "train", _config(steps=[]))
    checkpoint = tmp_path / "train" / "out" / trained["steps"][1]["artifact"]["path"]
    config = _config(dataset=None, model={"name": "numpy-mlp", "checkpoint": str(checkpoint)})
    del config["dataset"]
    doc = _run(core_host, tmp_path / "nodata", config)
    _validate(doc)
    assert doc["quality"] == {"task": None, "applicable": False, "reason": "no dataset"}
    assert doc["latency"]["stats"]["count"] >= 60


def test_evaluation_can_be_limited_or_disabled(core_host: PluginHost, tmp_path: Path) -> None:
    limited = _run(core_host, tmp_path / "l", _config(evaluation={"limit": 50, "batch_size": 7}))
    assert limited["quality"]["num_samples"] == 50
    off = _run(
        core_host, tmp_path / "o", _config(evaluation={"enabled": False}, resources={"enabled": False})
    )
    assert off["quality"]["applicable"] is False and off["quality"]["reason"] == "evaluation disabled"
    assert off["resources"]["host"] is None
    _validate(off)


def test_max_count_bounds_the_benchmark(core_host: PluginHost, tmp_path: Path) -> None:
    doc = _run(core_host, tmp_path, _config(benchmark={"warmup": 0, "min_count": 10, "max_count": 10,
                                                        "min_duration_s": 5.0, "batch_size": 4}))  # fmt: skip
    latency = doc["latency"]
    assert latency["stats"]["count"] == 10 and latency["stop_reason"] == "max_count"
    assert latency["batch_size"] == 4 and latency["warmup"]["count"] == 0
