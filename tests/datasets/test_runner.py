"""The datasets inside the core's planner and runner, with the core's numpy MLP and runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import LocalRunner, RunFailed

FAST = {"warmup": 2, "min_count": 20, "min_duration_s": 0.0}


def _run(host: PluginHost, out: Path, **config: Any) -> dict[str, Any]:
    raw = {
        "seed": 0,
        "model": {"name": "numpy-mlp", "epochs": 25, "hidden": [32]},
        "runtime": {"name": "numpy"},
        "benchmark": dict(FAST),
        "resources": {"enabled": False},
        **config,
    }
    plan = plan_pipeline(parse_config(raw), host)
    return LocalRunner(plan, out, host=host).run()


def test_digits_train_and_evaluate_through_the_runner(host: PluginHost, tmp_path: Path) -> None:
    doc = _run(
        host,
        tmp_path / "run",
        name="digits-mlp",
        dataset={"name": "digits", "image_size": 8},
        steps=[{"name": "weight-int8"}],
    )
    assert doc["status"] == "complete"
    quality = doc["quality"]
    assert quality["accuracy"] > 0.85
    assert quality["num_samples"] == 359 and quality["split"] == "test"
    assert quality["class_names"] == [str(d) for d in range(10)]
    assert doc["provenance"]["plugins"]["edgeai-datasets"] == "0.1.0"
    assert doc["provenance"]["frameworks"]["scikit-learn"]
    model_step = next(s for s in doc["steps"] if s["kind"] == "model")
    assert model_step["io"]["inputs"][0]["shape"] == [None, 1, 8, 8]


def test_synthetic_inputs_fit_a_loaded_model(host: PluginHost, tmp_path: Path) -> None:
    trained = _run(host, tmp_path / "train", dataset={"name": "digits"})
    checkpoint = (
        tmp_path / "train" / next(s for s in trained["steps"] if s["kind"] == "model")["artifact"]["path"]
    )
    doc = _run(
        host,
        tmp_path / "synthetic",
        dataset={"name": "synthetic", "samples": 64},
        model={"name": "numpy-mlp", "checkpoint": str(checkpoint), "input_shape": [1, 8, 8]},
    )
    assert doc["status"] == "complete"
    assert doc["quality"]["applicable"] is False and "no labels" in doc["quality"]["reason"]
    assert doc["latency"]["stats"]["count"] >= 20


def test_a_missing_dataset_fails_the_run_with_the_hint(host: PluginHost, tmp_path: Path) -> None:
    with pytest.raises(RunFailed, match=r"dataset failed: mnist: no data in .*dataset\.download=true"):
        _run(host, tmp_path / "run", dataset={"name": "mnist", "root": str(tmp_path / "none")})
