"""``edgeai bench model.onnx`` through the real console script: a tiny model exported with onnx.helper, locally
and on a real ``edgeai serve`` subprocess, with synthetic inputs and with a two-input ``.npz``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeai_core.measurement import schema_path

pytestmark = pytest.mark.subprocess

FAST = ("--count", "40", "--warmup", "2")


def two_inputs(path: Path) -> Path:
    """y = softmax((a + b) @ W): inputs a (batch, 8) and b (batch, 8), float32; 3 classes."""
    weights = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32), "W"
    )
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["a", "b"], ["s"]),
            helper.make_node("MatMul", ["s", "W"], ["h"]),
            helper.make_node("Softmax", ["h"], ["y"], axis=-1),
        ],
        "two-inputs",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 8]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def validate(results: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads(results.read_text())
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)
    return doc


def test_an_onnx_file_is_benchmarked_with_synthetic_inputs(tmp_path: Path, bench_json: Any) -> None:
    model = two_inputs(tmp_path / "two.onnx")
    expect = {"model_component": "onnx-file", "format": "onnx", "runtime": "onnxruntime", "count": 40}
    summary = bench_json(
        model, *FAST, "--threads", "1", cwd=tmp_path, expect={**expect, "status": "complete"}
    )
    assert summary["throughput_per_s"] > 0
    doc = validate(tmp_path / summary["results"])
    assert doc["plan"]["runtime"]["params"]["threads"] == 1  # type: ignore[index]
    assert [s["name"] for s in doc["steps"]] == ["onnx-file", "onnxruntime"]  # type: ignore[attr-defined]
    assert [t["name"] for t in doc["steps"][0]["io"]["inputs"]] == ["a", "b"]  # type: ignore[index]
    # one-shot habits: the file's structure is read without the onnx package, and with no step the final
    # runtime's own outputs are the fidelity reference (loaded once, not twice)
    assert doc["steps"][0]["metadata"]["check"] == "structure"  # type: ignore[index]
    fidelity = doc["fidelity"]
    assert fidelity["reference"]["runtime"] == "onnxruntime"  # type: ignore[index]
    assert [(e["step"], e["status"]) for e in fidelity["steps"]] == [("onnxruntime", "reference")]  # type: ignore[index]
    assert doc.get("complexity") is None  # a one-shot benchmark analyses only with --analyze


def test_analyze_adds_the_complexity_section(tmp_path: Path, bench_json: Any) -> None:
    model = two_inputs(tmp_path / "two.onnx")
    summary = bench_json(model, *FAST, "--analyze", cwd=tmp_path, expect={"status": "complete"})
    doc = validate(tmp_path / summary["results"])
    complexity = doc["complexity"]
    assert complexity["available"] is True and complexity["format"] == "onnx"  # type: ignore[index]
    assert complexity["summary"]["params"] > 0  # type: ignore[index]


def test_npz_inputs_feed_every_input_of_the_model_and_labels_are_evaluated(
    tmp_path: Path, bench_json: Any
) -> None:
    model = two_inputs(tmp_path / "two.onnx")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((30, 8)).astype(np.float32), rng.standard_normal((30, 8)).astype(np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    labels = session.run(None, {"a": a, "b": b})[0].argmax(axis=1)  # the model's own answers: accuracy 1
    np.savez(tmp_path / "inputs.npz", a=a, b=b, labels=labels)
    summary = bench_json(model, *FAST, "--inputs", "inputs.npz", "--batch", "5", cwd=tmp_path)
    assert summary["inputs"] == "inputs.npz (30 samples, with labels)"
    assert summary["accuracy"] == 1.0
    doc = validate(tmp_path / summary["results"])
    assert doc["quality"]["accuracy"] == 1.0  # type: ignore[index]
    assert doc["latency"]["batch_size"] == 5  # type: ignore[index]


def test_an_npz_that_misses_an_input_fails_with_one_line(tmp_path: Path, edgeai_console: Any) -> None:
    edgeai = edgeai_console
    model = two_inputs(tmp_path / "two.onnx")
    np.savez(tmp_path / "inputs.npz", a=np.zeros((4, 8), np.float32))
    run = edgeai("bench", str(model), "--inputs", "inputs.npz", cwd=tmp_path)
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: benchmark failed: --inputs inputs.npz: no array for input 'b', expected shape (N, 8) float32 "
        "(its arrays: a)"
    )
    np.savez(tmp_path / "wrong.npz", a=np.zeros((4, 8), np.float32), b=np.zeros((4, 7), np.float32))
    run = edgeai("bench", str(model), "--inputs", "wrong.npz", cwd=tmp_path)
    assert run.returncode == 2
    assert (
        "--inputs wrong.npz: input 'b' has shape (4, 7), expected (N, 8) (the first axis counts samples)"
        in run.stderr
    )


def test_a_text_file_named_onnx_is_refused_before_anything_loads(tmp_path: Path, edgeai_console: Any) -> None:
    (tmp_path / "notes.onnx").write_text("these are not weights")
    run = edgeai_console("bench", "notes.onnx", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "error: MODEL_FILE: notes.onnx is not an ONNX model (a protobuf ModelProto), as its extension .onnx says"
    )


def test_an_onnx_file_on_a_remote_target(tmp_path: Path, bench_remote_json: Any) -> None:
    model = two_inputs(tmp_path / "two.onnx")
    summary = bench_remote_json("onnxruntime", model, *FAST, cwd=tmp_path)
    assert summary["count"] == 40 and summary["target_p50_ns"] > 0
    doc = validate(tmp_path / summary["results"])
    assert doc["latency"]["target"]["stats"]["count"] == 40  # type: ignore[index]
    assert any(s["kind"] == "upload" for s in doc["steps"])  # type: ignore[attr-defined]
