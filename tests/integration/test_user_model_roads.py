"""User models through every installed road, with fidelity recorded and asserted: a two-input model (Concat then
Gemm), a dynamic-shape model (dynamic batch and length, a mean over the length then Gemm) and a model with its
weights in an external data file, each through ``edgeai run`` on ONNX Runtime (float), onnx-quantize int8 then
ONNX Runtime and TVM; the external-data model also through a real ``edgeai serve --runtime onnxruntime`` target.

Float roads must stay within ``max_abs_diff <= 1e-4`` of the reference, int8 roads ``cosine_similarity >= 0.98``,
and no step may be over the fidelity tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("onnxruntime")
pytest.importorskip("edgeai_onnx")
pytest.importorskip("edgeai_datasets")

pytestmark = pytest.mark.subprocess

FAST = {"warmup": 1, "min_count": 5, "min_duration_s": 0}
W2 = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
B2 = np.array([0.1, -0.2, 0.3], np.float32)


def _save(graph: onnx.GraphProto, path: Path, opset: int, **save: Any) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path), **save)
    return path


def _dynamic(path: Path) -> Path:
    """x (batch, 3, length): mean over the length, then Gemm to 4 outputs."""
    weights = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["mean"], axes=[2], keepdims=0),
            helper.make_node("Gemm", ["mean", "W"], ["y"]),
        ],
        "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "length"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(weights, "W")],
    )
    return _save(graph, path, 13)


def _external(path: Path) -> Path:
    """A small MLP, (N, 8) -> (N, 5), with every tensor in ``mlp.onnx.data``."""
    rng = np.random.default_rng(7)
    tensors = {
        "W1": rng.standard_normal((8, 16)).astype(np.float32),
        "B1": rng.standard_normal(16).astype(np.float32),
        "W2": rng.standard_normal((16, 5)).astype(np.float32),
        "B2": rng.standard_normal(5).astype(np.float32),
    }
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "W1", "B1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Gemm", ["r", "W2", "B2"], ["y"]),
        ],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(v, k) for k, v in tensors.items()],
    )
    _save(graph, path, 17, save_as_external_data=True, location="mlp.onnx.data", size_threshold=0)
    stored = onnx.load(str(path), load_external_data=False)
    assert all(t.data_location == TensorProto.EXTERNAL for t in stored.graph.initializer)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, two_input_onnx: Any) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    (folder / "ext").mkdir()
    return {
        "two": two_input_onnx(folder / "two.onnx", W2, B2),
        "dynamic": _dynamic(folder / "dynamic.onnx"),
        "external": _external(folder / "ext" / "mlp.onnx"),
    }


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _write(path: Path, config: dict[str, Any]) -> Path:
    lines = [f"{key} = {_toml(value)}" for key, value in config.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


#: the dataset of each model: per-input ranges for the two-input model, a size for the dynamic length
DATASETS: dict[str, dict[str, Any]] = {
    "two": {
        "name": "synthetic",
        "samples": 32,
        "inputs": {"boxes": {"low": 0.0, "high": 1.0}, "scores": {"low": -1.0, "high": 1.0}},
    },
    "dynamic": {"name": "synthetic", "samples": 32, "dynamic": 7},
    "external": {"name": "synthetic", "samples": 32},
}

#: the roads: extra config and the step whose fidelity is judged
ROADS: dict[str, dict[str, Any]] = {
    "onnxruntime": {"runtime": {"name": "onnxruntime"}},
    "int8": {"runtime": {"name": "onnxruntime"}, "steps": [{"name": "onnx-quantize", "mode": "static"}]},
    "tvm": {"runtime": {"name": "tvm"}, "steps": [{"name": "tvm"}]},
}


def _config(model: Path, which: str, road: str, **model_params: Any) -> dict[str, Any]:
    return {
        "dataset": DATASETS[which],
        "model": {"name": "onnx-file", "path": str(model), **model_params},
        "benchmark": FAST,
        "resources": {"enabled": False},
        **ROADS[road],
    }


def edgeai_script() -> Path:
    script = Path(sys.executable).parent / "edgeai"
    if not script.exists():
        pytest.skip("the edgeai console script is not installed next to this interpreter")
    return script


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _edgeai_run(config: dict[str, Any], out: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = _write(out.parent / f"{out.name}.toml", config)
    result = subprocess.run(
        [str(edgeai_script()), "run", str(path), "-o", str(out)],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    return result, out / "results.json"


def _check_fidelity(doc: dict[str, Any], road: str) -> list[dict[str, Any]]:
    assert doc["status"] == "complete", doc.get("error")
    entries = doc["fidelity"]["steps"]
    assert entries, doc["fidelity"]
    for entry in entries:
        assert entry["status"] == "ok" and entry["within_tolerance"] is True, entry
    if road == "int8":
        quantized = [e for e in entries if e["step"] == "onnx-quantize"]
        assert quantized and quantized[0]["cosine_similarity"] >= 0.98, entries
        assert quantized[0]["max_abs_diff"] > 0, "int8, not the float model"
        assert entries[-1]["cosine_similarity"] >= 0.98, entries
    else:
        for entry in entries:
            assert entry["max_abs_diff"] <= 1e-4, entry
    return entries


@pytest.mark.parametrize("road", sorted(ROADS))
@pytest.mark.parametrize("which", sorted(DATASETS))
def test_every_road_records_fidelity_within_tolerance(
    models: dict[str, Path], which: str, road: str, tmp_path: Path
) -> None:
    if road == "tvm":
        pytest.importorskip("tvm")
        pytest.importorskip("edgeai_tvm")
    out = tmp_path / "run"
    extra: dict[str, Any] = {}
    if which == "dynamic" and road == "tvm":
        # TVM needs the length fixed; the readiness error says how, and the run does what it says
        result, _ = _edgeai_run(_config(models[which], which, road), tmp_path / "refused")
        assert result.returncode == 1
        assert error_lines(result.stderr) == [
            "error: steps[0] failed: compiler tvm on dynamic.onnx: input 'x' has a dynamic dimension 2 in "
            "(?, 3, ?); TVM needs it fixed: give the model's input shape (onnx-file input_shape) "
            f"(partial results in {tmp_path / 'refused' / 'results.json'})"
        ], result.stderr[-3000:]
        extra = {"input_shape": [1, 3, 7]}
    result, results = _edgeai_run(_config(models[which], which, road, **extra), out)
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(results.read_text())
    entries = _check_fidelity(doc, road)
    expected = {
        "onnxruntime": [("onnxruntime", "runtime")],
        "int8": [("onnx-quantize", "compiler"), ("onnxruntime", "runtime")],
        "tvm": [("tvm", "compiler"), ("tvm", "runtime")],
    }[road]
    assert [(e["step"], e["kind"]) for e in entries] == expected
    assert doc["fidelity"]["inputs"]["source"] == "dataset", doc["fidelity"]
    assert doc["fidelity"]["inputs"]["dataset"] == "synthetic"


def test_tvm_feeds_both_inputs_of_a_files_dataset(models: dict[str, Path], tmp_path: Path) -> None:
    """Quality, not only fidelity: TVM's outputs on the two inputs of a ``files`` dataset give the accuracy the
    labels were made for (0.9: four of forty labels are wrong on purpose)."""
    pytest.importorskip("tvm")
    pytest.importorskip("edgeai_tvm")
    rng = np.random.default_rng(0)
    boxes, scores = rng.random((40, 4), np.float32), rng.random((40, 2), np.float32)
    labels = np.argmax(np.concatenate([boxes, scores], axis=1) @ W2 + B2, axis=1)
    labels[:4] = (labels[:4] + 1) % 3
    data = tmp_path / "two.npz"
    np.savez(data, boxes=boxes, scores=scores, labels=labels)
    config = {
        **_config(models["two"], "two", "tvm"),
        "dataset": {"name": "files", "path": str(data), "labels": "labels", "split": "all"},
    }
    result, results = _edgeai_run(config, tmp_path / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(results.read_text())
    _check_fidelity(doc, "tvm")
    assert doc["fidelity"]["inputs"]["dataset"] == "files"
    assert doc["quality"]["accuracy"] == pytest.approx(0.9)


# -- a real target -------------------------------------------------------------------------------------


def test_external_data_model_on_a_served_target_records_fidelity(
    models: dict[str, Path], tmp_path: Path, onnx_target: dict[str, Any]
) -> None:
    model = models["external"]
    local_config = _config(model, "external", "onnxruntime")
    result, results = _edgeai_run(local_config, tmp_path / "local")
    assert result.returncode == 0, result.stderr[-3000:]
    local = json.loads(results.read_text())
    config = {**local_config, "target": {"protocol": "tcp", "port": onnx_target["port"]}}
    result, results = _edgeai_run(config, tmp_path / "remote")
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(results.read_text())
    entries = _check_fidelity(remote, "onnxruntime")
    assert [(e["step"], e["kind"]) for e in entries] == [("onnxruntime", "runtime")]
    assert entries[0]["max_abs_diff"] == local["fidelity"]["steps"][0]["max_abs_diff"] == 0.0
    upload = next(s for s in remote["steps"] if s["kind"] == "upload")
    assert [f["name"] for f in upload["artifact"]["files"]] == ["mlp.onnx", "mlp.onnx.data"]
    data = onnx_target["workdir"] / "models" / "mlp.onnx.data"
    assert data.read_bytes() == (model.parent / "mlp.onnx.data").read_bytes()
