"""Whole pipelines through the core runner: digits + digits-cnn -> (torch-to-onnx) -> [onnx-quantize] -> tvm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.runner import LocalRunner

FAST = {"warmup": 10, "min_count": 100, "min_duration_s": 0.0}


def _run(host: Any, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    plan = plan_pipeline(parse_config(config), host)
    return LocalRunner(plan, out, host=host).run()


def test_float_and_int8_pipelines(host: Any, checkpoint: Any, tmp_path: Path):
    base = {
        "dataset": {"name": "digits"},
        "model": {"name": "digits-cnn", "checkpoint": str(checkpoint.path)},
        "runtime": {"name": "tvm", "threads": 1},
        "benchmark": FAST,
        "resources": {"enabled": False},
    }
    float_cfg = {**base, "steps": [{"name": "tvm"}]}
    int8_cfg = {**base, "steps": [{"name": "onnx-quantize", "mode": "static"}, {"name": "tvm"}]}
    assert [s.record.name for s in plan_pipeline(parse_config(float_cfg), host).steps] == [
        "torch-to-onnx",
        "tvm",
    ]
    float_doc = _run(host, tmp_path / "float", float_cfg)
    int8_doc = _run(host, tmp_path / "int8", int8_cfg)
    for doc in (float_doc, int8_doc):
        assert doc["status"] == "complete"
        assert doc["latency"]["stats"]["count"] >= 100
        assert doc["provenance"]["frameworks"]["tvm"]
        step = next(s for s in doc["steps"] if s["name"] == "tvm")
        assert step["output_format"] == "tvm" and step["metadata"]["batch"] == 1
        assert (tmp_path / ("float" if doc is float_doc else "int8") / step["artifact"]["path"]).is_file()
    float_acc, int8_acc = float_doc["quality"]["accuracy"], int8_doc["quality"]["accuracy"]
    assert float_acc > 0.93
    assert float_acc - int8_acc <= 0.015, (float_acc, int8_acc)
    # the runner's evaluation agrees with the trained model's own test accuracy (same split, same seed)
    assert abs(float_acc - checkpoint.metadata["test_accuracy"]) <= 0.005


def test_unknown_runtime_name_suggests_tvm(host: Any) -> None:
    from edgeai_core.errors import UnknownComponentError

    config = {"model": {"name": "numpy-mlp"}, "runtime": {"name": "tvn"}}
    with pytest.raises(UnknownComponentError, match="did you mean 'tvm'"):
        plan_pipeline(parse_config(config), host)
