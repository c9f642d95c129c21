"""Pipelined evaluation and the offline scenario on a real `edgeai serve --runtime onnxruntime` target: the
digits test split comes back with exactly the local predictions, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact
from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.runner import LocalRunner

pytestmark = pytest.mark.subprocess

FAST = {"warmup": 2, "min_count": 20, "min_duration_s": 0.0}


def _config(model: Path, **tables: Any) -> dict[str, Any]:
    return {
        "dataset": {"name": "test-digits"},
        "model": {"name": "onnx-file", "path": str(model)},
        "runtime": {"name": "onnxruntime"},
        "benchmark": FAST,
        "resources": {"enabled": False},
        **tables,
    }


def test_pipelined_remote_evaluation_returns_the_local_predictions_in_order(
    host: Any, cnn_onnx: Path, digits: Any, onnx_target: dict[str, Any], tmp_path: Path
) -> None:
    import onnxruntime as ort

    x = digits.split("test").input
    session = ort.InferenceSession(str(cnn_onnx))
    batches = [[x[i : i + 16]] for i in range(0, len(x), 16)]
    expected = [session.run(None, {"input": b[0]})[0] for b in batches]
    remote = onnx_target["remote"]()
    try:
        remote.connect()
        remote.upload(Artifact.load(_prepared(host, cnn_onnx, tmp_path)))
        got = remote.infer_many(batches, 8)
    finally:
        remote.close()
    assert len(got) == len(batches)
    for want, outputs in zip(expected, got, strict=True):
        np.testing.assert_array_equal(outputs[0], want)
    predictions = np.concatenate([o[0] for o in got]).argmax(axis=1)
    np.testing.assert_array_equal(predictions, np.concatenate(expected).argmax(axis=1))


def _prepared(host: Any, model: Path, tmp_path: Path) -> Path:
    """The model as onnx-file prepares it (with its sidecar), as a run would upload it."""
    plan = plan_pipeline(parse_config(_config(model)), host)
    run = LocalRunner(plan, tmp_path / "prepare", host=host).run()
    step = next(s for s in run["steps"] if s["kind"] == "model")
    return tmp_path / "prepare" / step["artifact"]["path"]


def test_a_remote_offline_run_matches_the_local_quality(
    host: Any, cnn_onnx: Path, onnx_target: dict[str, Any], tmp_path: Path
) -> None:
    scenario = {**FAST, "scenario": "offline", "concurrency": 8, "min_count": 200}
    local = LocalRunner(
        plan_pipeline(parse_config(_config(cnn_onnx, benchmark=scenario)), host),
        tmp_path / "local",
        host=host,
    ).run()
    target = {"protocol": "tcp", "port": onnx_target["port"]}
    config = _config(cnn_onnx, benchmark=scenario, target=target)
    remote = LocalRunner(plan_pipeline(parse_config(config), host), tmp_path / "remote", host=host).run()
    assert remote["status"] == "complete", remote.get("error")
    assert remote["quality"]["confusion_matrix"] == local["quality"]["confusion_matrix"]
    assert local["scenario"]["mode"] == "threads" and remote["scenario"]["mode"] == "pipelined"
    for doc in (local, remote):
        run = doc["scenario"]["runs"][0]
        assert doc["scenario"]["scenario"] == "offline" and run["count"] >= 200
        assert run["inferences_per_s"] > 0 and run["percentile"]["count"] == run["count"]
