"""``edgeai bench model.tflite`` and ``model.keras``: tiny models built here with TensorFlow (skipped without it),
benchmarked through the real console script, locally and on a real ``edgeai serve --runtime tflite``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.subprocess

FAST = ("--count", "30", "--warmup", "2")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A dense softmax classifier over 16 features as model.keras and (float32) model.tflite."""
    tf = pytest.importorskip("tensorflow", exc_type=ImportError)
    folder = tmp_path_factory.mktemp("tiny")
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [tf.keras.Input((16,), name="x"), tf.keras.layers.Dense(4, activation="softmax", name="y")]
    )
    model.save(folder / "model.keras")
    (folder / "model.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return {"keras": folder / "model.keras", "tflite": folder / "model.tflite"}


def test_a_tflite_file_is_benchmarked_with_the_tflite_runtime(
    models: dict[str, Path], tmp_path: Path, bench_json: Any
) -> None:
    expect = {"model_component": "tflite-file", "format": "tflite", "runtime": "tflite", "count": 30}
    summary = bench_json(
        models["tflite"], *FAST, cwd=tmp_path, timeout=600, expect={**expect, "status": "complete"}
    )
    doc = json.loads((tmp_path / summary["results"]).read_text())
    name = doc["steps"][0]["io"]["inputs"][0]["name"]
    np.savez(tmp_path / "inputs.npz", **{name: np.ones((6, 16), np.float32)})
    summary = bench_json(models["tflite"], *FAST, "--inputs", "inputs.npz", cwd=tmp_path, timeout=600)
    assert summary["inputs"] == "inputs.npz (6 samples)"


def test_a_keras_file_is_converted_for_a_runtime(
    models: dict[str, Path], tmp_path: Path, bench_json: Any
) -> None:
    summary = bench_json(models["keras"], *FAST, cwd=tmp_path, timeout=600)
    assert (summary["model_component"], summary["format"]) == ("keras-file", "keras")
    doc = json.loads((tmp_path / summary["results"]).read_text())
    steps = doc["plan"]["steps"]
    assert len(steps) == 1 and steps[0]["inserted"] and steps[0]["input_format"] == "keras"
    assert summary["runtime"] == "tflite" and steps[0]["output_format"] == "tflite"


def test_a_tflite_file_on_a_remote_target(
    models: dict[str, Path], tmp_path: Path, bench_remote_json: Any
) -> None:
    summary = bench_remote_json("tflite", models["tflite"], *FAST, cwd=tmp_path, timeout=600)
    assert summary["count"] == 30
    assert summary["target_p50_ns"] > 0


@pytest.mark.parametrize("remote", [False, True])
def test_a_tflite_file_is_profiled_per_operator(
    models: dict[str, Path], tmp_path: Path, bench_json: Any, bench_remote_json: Any, remote: bool
) -> None:
    pytest.importorskip("ai_edge_litert", reason="the per-operator profiler is LiteRT's C library")
    from edgeai_tflite.litert_profile import operators

    args = (*FAST, "--profile")
    if remote:  # the target runs the profile pass (STATS PROFILE) through the same runtime method
        summary = bench_remote_json("tflite", models["tflite"], *args, cwd=tmp_path, timeout=600)
    else:
        summary = bench_json(models["tflite"], *args, cwd=tmp_path, timeout=600)
    profile = summary["profile"]
    assert (profile["status"], profile["where"]) == ("ok", "target" if remote else "local"), profile
    doc = json.loads((tmp_path / summary["results"]).read_text())
    layers = doc["profile"]["layers"]
    assert doc["profile"]["profiler"] == "litert-profiler"
    ops = [op.op_type for op in operators(models["tflite"])]
    assert ops == ["FULLY_CONNECTED", "SOFTMAX"]
    by_index = sorted(layers, key=lambda layer: int(layer["name"].split()[0][1:]))
    assert [t for layer in by_index for t in layer["op_type"].split("+")] == ops
    assert all(layer["mapping"] == "unknown" for layer in layers)
