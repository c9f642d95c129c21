"""Multi-input models: a two-input ONNX graph (Concat then Gemm) on ``synthetic`` and ``files`` inputs, through
ONNX Runtime here and on a real ``edgeai serve`` target, calibrated by onnx-quantize on two-input data; a
dynamic-shape model on synthetic inputs; ``--dry-run`` refusing a ``files`` dataset that does not fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeai_core.artifacts import Artifact
from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.runner import LocalRunner

pytest.importorskip("edgeai_datasets")

FAST = {"warmup": 1, "min_count": 5, "min_duration_s": 0.0}
#: the model's weights: logits = concat(boxes, scores) @ W + B
W = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
B = np.array([0.1, -0.2, 0.3], np.float32)


def _dynamic_model(path: Path) -> Path:
    """x (batch, 3, length) with a dynamic batch and length: mean over the length, then Gemm to 2 outputs."""
    weights = np.arange(6, dtype=np.float32).reshape(3, 2) / 10
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["mean"], axes=[2], keepdims=0),
            helper.make_node("Gemm", ["mean", "W"], ["y"]),
        ],
        "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "length"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _expected(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes, scores], axis=1) @ W + B


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, two_input_onnx: Any) -> Path:
    return two_input_onnx(tmp_path_factory.mktemp("two") / "two.onnx", W, B)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    boxes, scores = rng.random((40, 4), np.float32), rng.random((40, 2), np.float32)
    labels = np.argmax(_expected(boxes, scores), axis=1)
    labels[:4] = (labels[:4] + 1) % 3  # a few wrong labels: accuracy 0.9 on the whole set
    path = tmp_path_factory.mktemp("data") / "two.npz"
    np.savez(path, boxes=boxes, scores=scores, labels=labels)
    return path


@pytest.fixture
def host(first_party_host: Callable[..., Any]) -> Any:
    return first_party_host("onnx", "datasets")


def _run(host: Any, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    plan = plan_pipeline(parse_config(config), host)
    return LocalRunner(plan, out, host=host).run()


def _config(model: Path, dataset: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "model": {"name": "onnx-file", "path": str(model)},
        "runtime": {"name": "onnxruntime"},
        "benchmark": FAST,
        "resources": {"enabled": False},
        **extra,
    }


def test_synthetic_fills_both_inputs_with_their_own_ranges(host: Any, model: Path, tmp_path: Path) -> None:
    dataset = {
        "name": "synthetic",
        "samples": 64,
        "inputs": {"boxes": {"low": 10.0, "high": 11.0}, "scores": {"low": -3.0, "high": -2.0}},
    }
    doc = _run(host, tmp_path / "run", _config(model, dataset))
    assert doc["status"] == "complete", doc.get("error")
    assert doc["quality"]["applicable"] is False
    assert doc["latency"]["stats"]["count"] >= 5

    record = host.get("dataset", "synthetic")
    from edgeai_core.components import Context

    params = {k: v for k, v in dataset.items() if k != "name"}
    ds = record.create(params, where="dataset", context=Context(workdir=tmp_path, seed=0))
    ds.use_io_spec(Artifact.load(tmp_path / "run" / _model_path(doc)).io)
    split = ds.split("test")
    boxes, scores = split.inputs["boxes"], split.inputs["scores"]
    assert boxes.shape == (64, 4) and scores.shape == (64, 2)
    assert 10.0 <= boxes.min() < 10.1 and 10.9 < boxes.max() < 11.0
    assert -3.0 <= scores.min() < -2.9 and -2.1 < scores.max() < -2.0


def _model_path(doc: dict[str, Any]) -> str:
    return str(next(s for s in doc["steps"] if s["kind"] == "model")["artifact"]["path"])


def test_files_feed_both_inputs_and_labels_give_accuracy(
    host: Any, model: Path, data: Path, tmp_path: Path
) -> None:
    dataset = {"name": "files", "path": str(data), "labels": "labels", "split": "all"}
    doc = _run(host, tmp_path / "run", _config(model, dataset))
    assert doc["status"] == "complete", doc.get("error")
    assert doc["quality"]["accuracy"] == pytest.approx(0.9)
    assert doc["quality"]["split"] == "test"


def test_onnx_quantize_calibrates_on_both_inputs(host: Any, model: Path, data: Path, tmp_path: Path) -> None:
    dataset = {"name": "files", "path": str(data), "labels": "labels", "split": "all"}
    config = _config(model, dataset, steps=[{"name": "onnx-quantize", "mode": "static"}])
    doc = _run(host, tmp_path / "run", config)
    assert doc["status"] == "complete", doc.get("error")
    step = next(s for s in doc["steps"] if s["name"] == "onnx-quantize")
    assert step["metadata"]["calibration_samples"] == 40
    fidelity = [f for f in doc["fidelity"]["steps"] if f.get("step") == "onnx-quantize"]
    assert fidelity and fidelity[0]["status"] == "ok" and fidelity[0]["samples"] == 32, doc["fidelity"]
    assert fidelity[0]["cosine_similarity"] >= 0.99 and fidelity[0]["within_tolerance"] is True
    assert 0 < fidelity[0]["max_abs_diff"] < 0.1, "int8, not the float model"
    assert (
        doc["fidelity"]["inputs"]["source"] == "dataset" and doc["fidelity"]["inputs"]["dataset"] == "files"
    )


# -- a real target -------------------------------------------------------------------------------------


@pytest.mark.subprocess
def test_a_remote_target_gets_both_inputs_in_io_order(
    host: Any, model: Path, data: Path, tmp_path: Path, onnx_target: dict[str, Any]
) -> None:
    dataset = {"name": "files", "path": str(data), "labels": "labels", "split": "all"}
    local = _run(host, tmp_path / "local", _config(model, dataset))
    remote_config = _config(model, dataset, target={"protocol": "tcp", "port": onnx_target["port"]})
    remote = _run(host, tmp_path / "remote", remote_config)
    assert remote["status"] == "complete", remote.get("error")
    assert remote["quality"]["confusion_matrix"] == local["quality"]["confusion_matrix"]
    assert remote["quality"]["accuracy"] == pytest.approx(0.9)

    artifact = Artifact.load(tmp_path / "local" / _model_path(local))
    with np.load(data) as arrays:
        boxes, scores = arrays["boxes"][:8], arrays["scores"][:8]
    remote_runtime = onnx_target["remote"]()
    try:
        remote_runtime.connect()
        remote_runtime.upload(artifact)
        got = remote_runtime.infer([boxes, scores])[0]
    finally:
        remote_runtime.close()
    np.testing.assert_allclose(got, _expected(boxes, scores), rtol=1e-5, atol=1e-5)


# -- the CLI -------------------------------------------------------------------------------------------


def _edgeai(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "edgeai"
    if not script.exists():
        pytest.skip("the edgeai console script is not installed next to this interpreter")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def _toml(path: Path, dataset: str, model: Path) -> Path:
    path.write_text(
        f'[dataset]\n{dataset}\n[model]\nname = "onnx-file"\npath = "{model}"\n'
        '[runtime]\nname = "onnxruntime"\n[benchmark]\nwarmup = 1\nmin_count = 5\nmin_duration_s = 0\n'
        "[resources]\nenabled = false\n"
    )
    return path


@pytest.mark.subprocess
def test_dry_run_refuses_files_whose_keys_do_not_match(model: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, boxes=np.zeros((5, 4), np.float32), logits=np.zeros((5, 2), np.float32))
    config = _toml(tmp_path / "run.toml", f'name = "files"\npath = "{wrong}"', model)
    done = _edgeai("run", "--dry-run", str(config), "-o", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: files: wrong.npz has no array for input 'scores': it holds boxes, logits, the model takes "
        "2 input(s): boxes ('?', 4), scores ('?', 2)"
    )
    assert not (tmp_path / "out").exists()

    good = tmp_path / "good.npz"
    np.savez(good, boxes=np.zeros((5, 4), np.float32), scores=np.zeros((5, 2), np.float32))
    config = _toml(tmp_path / "ok.toml", f'name = "files"\npath = "{good}"', model)
    done = _edgeai("run", "--dry-run", str(config), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "input boxes (?, 4) float32 <- dataset files samples of shape (4) (dynamic dims 0)" in done.stdout
    assert "input scores (?, 2) float32 <- dataset files samples of shape (2) (dynamic dims 0)" in done.stdout


@pytest.mark.subprocess
def test_the_matrix_plan_checks_the_inputs_once_before_any_road_runs(model: Path, tmp_path: Path) -> None:
    pytest.importorskip("edgeai_compat", exc_type=ImportError)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, boxes=np.zeros((5, 4), np.float32), logits=np.zeros((5, 2), np.float32))
    common = ["--model", "onnx-file", "--set", f"model.path={model}", "--dataset", "files"]
    done = _edgeai("matrix", *common, "--set", f"dataset.path={wrong}", "--list")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: files: wrong.npz has no array for input 'scores': it holds boxes, logits, the model takes "
        "2 input(s): boxes ('?', 4), scores ('?', 2)"
    )
    good = tmp_path / "good.npz"
    np.savez(good, boxes=np.zeros((5, 4), np.float32), scores=np.zeros((5, 2), np.float32))
    done = _edgeai("matrix", *common, "--set", f"dataset.path={good}", "--list", "--json")
    assert done.returncode == 0, done.stderr
    roads = json.loads(done.stdout)["combinations"]
    assert any(r["road"] == [] for r in roads), "the plain onnxruntime road is planned"


@pytest.mark.subprocess
def test_a_dynamic_model_on_synthetic_inputs_reports_the_fixed_dims(tmp_path: Path) -> None:
    model = _dynamic_model(tmp_path / "dynamic.onnx")
    config = _toml(tmp_path / "run.toml", 'name = "synthetic"\nsamples = 8\ndynamic = 5', model)
    done = _edgeai("run", str(config), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "synthetic: dynamic dimensions fixed: input 'x' dim 2 = 5" in done.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["status"] == "complete" and doc["latency"]["stats"]["count"] >= 5

    bare = _toml(tmp_path / "bare.toml", 'name = "synthetic"', model)
    done = _edgeai("run", "--dry-run", str(bare), "-o", str(tmp_path / "out2"))
    assert done.returncode == 2
    assert "synthetic: input 'x' has a dynamic dimension 2 in (None, 3, None)" in done.stderr


def test_a_single_input_dataset_is_refused_before_any_step(host: Any, model: Path, tmp_path: Path) -> None:
    config = _config(model, {"name": "digits"}, steps=[{"name": "onnx-quantize", "mode": "dynamic"}])
    plan = plan_pipeline(parse_config(config), host)
    doc = LocalRunner(plan, tmp_path / "run", host=host)
    with pytest.raises(Exception) as caught:
        doc.run()
    assert caught.value.exit_code == 2  # type: ignore[attr-defined]
    assert str(caught.value).startswith(
        "model failed: dataset digits gives input(s) input, but the model takes 2 (boxes, scores); "
        "missing: boxes, scores"
    )
    written = json.loads((tmp_path / "run" / "results.json").read_text())
    assert written["error"]["stage"] == "model" and not [
        s for s in written["steps"] if s["kind"] == "compiler"
    ]
