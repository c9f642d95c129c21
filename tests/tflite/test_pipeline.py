"""Whole pipelines through the core runner: the demo's TFLite variants, with the shared trained checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import edgeai_tflite.plugin as plugin

pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")

BENCHMARK = {"warmup": 5, "min_count": 50, "min_duration_s": 0.0, "batch_size": 1}


def run(host: Any, config: dict[str, Any], output: Path) -> dict[str, Any]:
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.runner import LocalRunner

    return LocalRunner(plan_pipeline(parse_config(config), host), output, host=host).run()


def test_demo_variants_run(tf_session: dict[str, Any], trained: Any, tmp_path: Path) -> None:
    host = tf_session["host"]
    docs = {}
    for variant in plugin.edgeai_register_demo_variants():
        if variant.config["model"]["name"] != "digits-cnn-keras":
            continue  # the segmenter's variants run in test_segmenter.py
        config = {**variant.config, "name": variant.name, "benchmark": BENCHMARK}
        config["model"] = {**config["model"], "checkpoint": str(trained.path)}
        docs[variant.name] = run(host, config, tmp_path / variant.name)
    for name, doc in docs.items():
        assert doc["status"] == "complete", name
        assert doc["latency"]["stats"]["count"] >= 50
        assert [(s["kind"], s["name"]) for s in doc["steps"]] == [
            ("dataset", "digits"), ("model", "digits-cnn-keras"), ("compiler", "tflite"), ("runtime-load", "tflite")
        ]  # fmt: skip
        assert {"tensorflow", "keras", "ai-edge-litert"} <= set(doc["provenance"]["frameworks"])
    float_acc = docs["tflite-float"]["quality"]["accuracy"]
    int8_acc = docs["tflite-int8"]["quality"]["accuracy"]
    assert float_acc == pytest.approx(trained.metadata["test_accuracy"])
    assert float_acc - int8_acc <= 0.015
    io = docs["tflite-int8"]["steps"][2]["io"]
    assert io["inputs"][0]["dtype"] == "int8" and io["inputs"][0]["zero_point"] == -128
    assert io["outputs"][0]["dtype"] == "int8" and "scale" in io["outputs"][0]


def test_batched_benchmark_and_a_fixed_batch_model(
    tf_session: dict[str, Any], trained: Any, tmp_path: Path
) -> None:
    host = tf_session["host"]
    base = {
        "dataset": {"name": "digits", "layout": "NHWC"},
        "model": {"name": "digits-cnn-keras", "checkpoint": str(trained.path)},
        "runtime": {"name": "tflite", "threads": 2},
    }
    # no step: keras-to-tflite is inserted; batches of 8 resize the dynamic input
    doc = run(host, {**base, "benchmark": {**BENCHMARK, "batch_size": 8}}, tmp_path / "batched")
    assert doc["status"] == "complete" and doc["steps"][2]["name"] == "keras-to-tflite"
    assert doc["quality"]["accuracy"] == pytest.approx(trained.metadata["test_accuracy"])
    # a fixed batch of 1: the runner evaluates sample by sample
    fixed = {**base, "steps": [{"name": "tflite", "mode": "int8", "batch_size": 1}], "benchmark": BENCHMARK}
    doc = run(host, fixed, tmp_path / "fixed")
    assert doc["status"] == "complete" and doc["steps"][2]["io"]["inputs"][0]["shape"] == [1, 8, 8, 1]
    assert trained.metadata["test_accuracy"] - doc["quality"]["accuracy"] <= 0.015
