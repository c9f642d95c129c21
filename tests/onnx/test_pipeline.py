"""Whole pipelines through the core runner: onnx-file -> onnx-quantize -> onnxruntime on in-test digits, and
(when edgeai-datasets and edgeai-torch are installed) digits + digits-cnn + torch-to-onnx."""

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


def test_onnx_file_quantized_on_onnxruntime(host: Any, cnn_onnx: Path, tmp_path: Path) -> None:
    base = {
        "dataset": {"name": "test-digits"},
        "model": {"name": "onnx-file", "path": str(cnn_onnx)},
        "runtime": {"name": "onnxruntime"},
        "benchmark": FAST,
        "resources": {"enabled": False},
    }
    float_doc = _run(host, tmp_path / "float", base)
    int8_doc = _run(host, tmp_path / "int8", {**base, "steps": [{"name": "onnx-quantize"}]})
    for doc in (float_doc, int8_doc):
        assert doc["status"] == "complete"
        assert doc["latency"]["stats"]["count"] >= 100
        assert doc["provenance"]["frameworks"]["onnxruntime"]
    float_acc, int8_acc = float_doc["quality"]["accuracy"], int8_doc["quality"]["accuracy"]
    assert float_acc > 0.93 and abs(int8_acc - float_acc) <= 0.015
    step = next(s for s in int8_doc["steps"] if s["name"] == "onnx-quantize")
    assert (
        step["metadata"]["mode"] == "static"
        and step["metadata"]["size_after"] < step["metadata"]["size_before"]
    )
    assert (tmp_path / "int8" / step["artifact"]["path"]).is_file()


def test_digits_cnn_through_torch_to_onnx(tmp_path: Path, first_party_host: Any) -> None:
    """The real road (edgeai-datasets' digits, edgeai-torch's digits-cnn and torch-to-onnx), when installed."""
    pytest.importorskip("edgeai_datasets")
    pytest.importorskip("edgeai_torch")
    host = first_party_host("datasets", "torch", "onnx")
    base = {
        "dataset": {"name": "digits"},
        "model": {"name": "digits-cnn", "epochs": 10},
        "runtime": {"name": "onnxruntime"},
        "benchmark": FAST,
        "resources": {"enabled": False},
    }
    plan = plan_pipeline(parse_config({**base, "steps": [{"name": "onnx-quantize"}]}), host)
    assert [s.record.name for s in plan.steps] == ["torch-to-onnx", "onnx-quantize"]
    float_doc = _run(host, tmp_path / "float", base)
    int8_doc = _run(host, tmp_path / "int8", {**base, "steps": [{"name": "onnx-quantize"}]})
    assert float_doc["status"] == int8_doc["status"] == "complete"
    float_acc, int8_acc = float_doc["quality"]["accuracy"], int8_doc["quality"]["accuracy"]
    assert float_acc > 0.9
    assert abs(int8_acc - float_acc) <= 0.015, (float_acc, int8_acc)
