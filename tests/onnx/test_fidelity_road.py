"""Fidelity at every step on real frameworks: digits-cnn (torch) -> torch-to-onnx -> onnx-quantize -> onnxruntime,
and an ONNX file whose reference runs in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.runner import Runner

FAST = {"warmup": 5, "min_count": 20, "min_duration_s": 0.0}


def _run(host: Any, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    return Runner(plan_pipeline(parse_config(config), host), out, host=host).run()


def test_the_torch_road_records_fidelity_per_step(tmp_path: Path, first_party_host: Any) -> None:
    pytest.importorskip("edgeai_datasets")
    pytest.importorskip("edgeai_torch")
    pytest.importorskip("torch")
    host = first_party_host("datasets", "torch", "onnx")
    doc = _run(
        host,
        tmp_path,
        {
            "dataset": {"name": "digits"},
            "model": {"name": "digits-cnn", "epochs": 10},
            "steps": [{"name": "onnx-quantize"}],
            "runtime": {"name": "onnxruntime"},
            "benchmark": FAST,
            "resources": {"enabled": False},
            "fidelity": {"strict": True, "layers": True},
        },
    )
    assert doc["status"] == "complete"
    fidelity = doc["fidelity"]
    # per-layer numerics: torch cannot expose intermediates, so the float export stands in for the reference
    layers = fidelity["steps"][1]["layers"]
    assert (layers["status"], layers["reference_step"], layers["runtime"]) == (
        "ok",
        "torch-to-onnx",
        "onnxruntime",
    )
    assert layers["ranking"] and all(r["added_error"] > 0 for r in layers["ranking"])
    assert fidelity["steps"][0]["layers"] == {  # the export itself has no float stand-in but itself
        "status": "model_outputs_only",
        "reason": "runtime torch cannot expose the reference's intermediate tensors; model outputs only",
    }

    assert fidelity["reference"] == dict(step="digits-cnn", kind="model", format="torch", runtime="torch")
    assert fidelity["inputs"] == dict(source="dataset", dataset="digits", split="test", samples=32, seed=0)
    export, quantize, runtime = fidelity["steps"]
    assert [(e["step"], e["kind"], e["format"], e["runtime"]) for e in fidelity["steps"]] == [
        ("torch-to-onnx", "converter", "onnx", "onnxruntime"),
        ("onnx-quantize", "compiler", "onnx", "onnxruntime"),
        ("onnxruntime", "runtime", "onnx", "onnxruntime"),
    ]
    assert export["precision"] == "float32" and export["judged_by"] == "elementwise"
    assert (
        export["status"] == "ok" and export["max_abs_diff"] < 1e-3 and export["cosine_similarity"] > 0.99999
    )
    assert export["top1_agreement"] == 1.0
    for entry in (quantize, runtime):
        assert entry["precision"] == "int8" and entry["judged_by"] == "agreement" and entry["status"] == "ok"
        assert entry["top1_agreement"] >= 0.9 and entry["cosine_similarity"] > 0.99
        assert entry["max_abs_diff"] > export["max_abs_diff"], "int8 differs more than the float export"
    # the exporter's own check stays with the exporter; the int8 step does not read as verified
    steps = {s["name"]: s for s in doc["steps"]}
    assert steps["torch-to-onnx"]["metadata"]["verified"] is True
    assert not any(k == "verified" or k.startswith("verify_") for k in steps["onnx-quantize"]["metadata"])


def test_an_onnx_reference_runs_in_onnx_runtime(host: Any, cnn_onnx: Path, tmp_path: Path) -> None:
    doc = _run(
        host,
        tmp_path,
        {
            "dataset": {"name": "test-digits"},
            "model": {"name": "onnx-file", "path": str(cnn_onnx)},
            "steps": [{"name": "onnx-quantize", "mode": "dynamic"}],
            "runtime": {"name": "onnxruntime"},
            "benchmark": FAST,
            "resources": {"enabled": False},
            "fidelity": {"samples": 16},
        },
    )
    fidelity = doc["fidelity"]
    assert fidelity["reference"] == dict(step="onnx-file", kind="model", format="onnx", runtime="onnxruntime")
    assert fidelity["inputs"]["samples"] == 16
    quantize = fidelity["steps"][0]
    assert quantize["step"] == "onnx-quantize" and quantize["precision"] == "int8"
    assert (
        quantize["samples"] == 16
        and quantize["top1_agreement"] >= 0.9
        and quantize["cosine_similarity"] > 0.99
    )
