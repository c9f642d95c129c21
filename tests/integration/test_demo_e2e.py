"""`edgeai demo` end to end: digits CNN trained with torch, exported to ONNX, quantized, benchmarked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("edgeai_torch", exc_type=ImportError)
pytest.importorskip("edgeai_onnx", exc_type=ImportError)
pytest.importorskip("edgeai_datasets", exc_type=ImportError)

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, edgeai) -> tuple[Path, dict, str]:  # type: ignore[no-untyped-def, type-arg]
    out = tmp_path_factory.mktemp("demo")
    result = edgeai(
        "demo", "-o", str(out), "--set", "benchmark.min_count=200", "--set", "benchmark.min_duration_s=0.2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads((out / "summary.json").read_text()), result.stdout


def test_every_first_party_variant_completes(demo: tuple[Path, dict, str]) -> None:  # type: ignore[type-arg]
    out, summary, stdout = demo
    rows = {r["variant"]: r for r in summary["variants"]}
    for name in ("torch-eager", "torch-traced", "onnxruntime-float", "onnxruntime-int8"):
        assert rows[name]["status"] == "complete", rows[name]
        doc = json.loads((out / name / "results.json").read_text())
        assert doc["status"] == "complete"
        assert doc["latency"]["stats"]["count"] >= 200
        assert name in stdout
    trained = [p.name for p in (out / "_trained").iterdir()]
    assert sum(n.endswith("-digits-cnn") for n in trained) == 1, (
        "the torch CNN is trained once for its variants"
    )


def test_accuracy_targets(demo: tuple[Path, dict, str]) -> None:  # type: ignore[type-arg]
    _, summary, _ = demo
    rows = {r["variant"]: r for r in summary["variants"]}
    float_acc = rows["onnxruntime-float"]["accuracy"]
    assert float_acc >= 0.95
    assert rows["torch-eager"]["accuracy"] >= 0.95
    assert abs(rows["torch-eager"]["accuracy"] - float_acc) <= 0.003, "ONNX export keeps the predictions"
    assert float_acc - rows["onnxruntime-int8"]["accuracy"] <= 0.015, "int8 within 1.5 points of float"


def test_onnx_steps_were_planned_and_recorded(demo: tuple[Path, dict, str]) -> None:  # type: ignore[type-arg]
    out, _, _ = demo
    doc = json.loads((out / "onnxruntime-int8" / "results.json").read_text())
    kinds = [(s["kind"], s["name"]) for s in doc["steps"]]
    assert kinds == [("dataset", "digits"), ("model", "digits-cnn"), ("converter", "torch-to-onnx"),
                     ("compiler", "onnx-quantize"), ("runtime-load", "onnxruntime")]  # fmt: skip
    assert doc["steps"][2]["inserted"] is True
    float_size = json.loads((out / "onnxruntime-float" / "results.json").read_text())["steps"][-1]["artifact"]
    assert doc["steps"][-1]["artifact"]["size_bytes"] < float_size["size_bytes"]
    assert {"torch", "onnxruntime"} <= set(doc["provenance"]["frameworks"])
    assert {"edgeai-torch", "edgeai-onnx", "edgeai-datasets"} <= set(doc["provenance"]["plugins"])
