"""Per-operator profiles (LiteRT's C profiler) and per-layer numerics of the digits CNN's TFLite builds.

Coverage bound: the operators' times must add up to 50%-150% of ``model_us``, LiteRT's run of the same inputs
with the profiler stopped. Below 100%: a run also copies buffers and dispatches XNNPACK's partitions; above: each
event is rounded to whole microseconds and carries the profiler's own work. The digits CNN (8x8 inputs) runs in
12-22 us at batch 1, where that per-run work is up to half of the time (measured coverage 41-100%), so the
profiled model has a static batch of 32 (measured 82-101% there, float32 and int8, XNNPACK and builtin kernels).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")
pytest.importorskip("ai_edge_litert", reason="the profiler is LiteRT's")

MIN_COVERAGE, MAX_COVERAGE = 0.5, 1.5
BATCH = 32
RUNS = 50


def run(host: Any, config: dict[str, Any], output: Path) -> dict[str, Any]:
    from edgeai_core.config import parse_config
    from edgeai_core.measurement import schema_path
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.runner import LocalRunner

    doc: dict[str, Any] = LocalRunner(plan_pipeline(parse_config(config), host), output, host=host).run()
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)
    return doc


def left_out(profile: dict[str, Any]) -> int:
    return sum(int(n.split(" of ")[0]) for n in profile.get("notes", ()) if "runs left out" in n)


@pytest.mark.parametrize(("mode", "xnnpack"), [("float32", True), ("int8", True), ("float32", False)])
def test_the_digits_cnn_profile_adds_up_and_names_the_models_operators(
    tf_session: dict[str, Any], trained: Any, tmp_path: Path, mode: str, xnnpack: bool
) -> None:
    from edgeai_tflite.litert_profile import operators

    config = {
        "dataset": {"name": "digits", "layout": "NHWC"},
        "model": {"name": "digits-cnn-keras", "checkpoint": str(trained.path)},
        "steps": [{"name": "tflite", "mode": mode, "batch_size": BATCH}],
        "runtime": {"name": "tflite", "threads": 1, "xnnpack": xnnpack},
        "benchmark": {
            "warmup": 2,
            "min_count": 10,
            "min_duration_s": 0.0,
            "batch_size": BATCH,
            "profile": True,
            "profile_runs": RUNS,
        },
        "resources": {"enabled": False},
    }
    doc = run(tf_session["host"], config, tmp_path / "run")
    assert doc["status"] == "complete"
    profile = doc["profile"]
    assert (profile["status"], profile["runtime"], profile["where"]) == ("ok", "tflite", "local")
    assert profile["profiler"] == "litert-profiler"
    assert profile["runs"] + left_out(profile) == RUNS
    # every operator of the model is accounted for once, in the model's order (joined ones share a record)
    (path,) = (tmp_path / "run").rglob("*.tflite")
    ops = operators(path)
    layers = sorted(profile["layers"], key=lambda layer: int(layer["name"].split()[0][1:]))
    assert [t for layer in layers for t in layer["op_type"].split("+")] == [op.op_type for op in ops]
    assert "CONV_2D" in {op.op_type for op in ops} and "FULLY_CONNECTED" in {op.op_type for op in ops}
    for layer in layers:  # named after the first operator's index and the last one's output tensor
        first, count = int(layer["name"].split()[0][1:]), len(layer["op_type"].split("+"))
        assert layer["name"] == f"#{first} {ops[first + count - 1].output}"
    for layer in layers:
        assert layer["mean_us"] >= 0 and layer["calls"] >= 1.0
        assert (layer["mapping"], layer["onnx_nodes"], layer["fused"]) == ("unknown", [], False)
    # the convolutions do the work: the top layer is one of them
    assert profile["layers"][0]["op_type"].startswith("CONV_2D")
    assert profile["model_us"] > 0 and profile["layers_us"] > 0
    assert sum(layer["share"] for layer in profile["layers"]) == pytest.approx(1.0)
    summary = {k: profile[k] for k in ("model_us", "layers_us", "notes")}
    summary["layers"] = [(layer["op_type"], layer["mean_us"]) for layer in layers]
    assert MIN_COVERAGE <= profile["coverage"] <= MAX_COVERAGE, summary
    kernels = "XNNPACK" if xnnpack else "TFLite's builtin kernels"
    assert profile["notes"][0].startswith(f"LiteRT CompiledModel API, {kernels}, 1 thread(s)")
    # the timed benchmark ran as usual
    assert doc["latency"]["stats"]["count"] >= 10


def _capture(make: Any, artifact: Any, x: np.ndarray) -> Any:
    runtime = make("runtime", "tflite", threads=1)
    runtime.load(artifact)
    try:
        return runtime.layer_outputs([x])
    finally:
        runtime.close()


def test_int8_layer_numerics_rank_the_layers_by_added_error(
    tf_session: dict[str, Any], compiled: Any
) -> None:
    from edgeai_core.layerwise import MAX_SNR_DB, layer_section

    make = tf_session["make"]
    x = np.asarray(tf_session["digits"].split("test").input[:16], np.float32)
    reference = _capture(make, compiled(mode="float32"), x)
    candidate = _capture(
        make, compiled(mode="int8", inference_input_type="int8", inference_output_type="int8"), x
    )
    assert reference is not None and candidate is not None
    types = [node.op_type for node in reference.nodes]
    assert types[:2] == ["CONV_2D", "CONV_2D"] and types[-1] == "FULLY_CONNECTED"
    assert [node.op_type for node in candidate.nodes] == types  # the same operators, int8 kernels
    section = layer_section(reference, candidate, 16, "tflite", "tflite", {"mode": "int8"})
    assert section["status"] == "ok" and section["samples"] == 16
    rows = section["tensors"]
    # every float activation has its int8 twin under the same name (int32 shape tensors are compared too)
    compared = {row["tensor"] for row in rows}
    for node in reference.nodes:
        if node.op_type in ("CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED"):
            assert node.outputs[0] in compared, node
    for row in rows:
        if row["op_type"] in ("CONV_2D", "FULLY_CONNECTED"):
            # dequantized int8 activations track the float ones closely, not exactly
            assert 0.95 < row["cosine_similarity"] < 1.0 and 10.0 < row["snr_db"] < MAX_SNR_DB
            assert row["max_abs_error"] > 0 and row["relative_error"] > 0
    ranking = section["ranking"]
    assert ranking and [r["rank"] for r in ranking] == list(range(1, len(ranking) + 1))
    assert [r["added_error"] for r in ranking] == sorted((r["added_error"] for r in ranking), reverse=True)
    assert ranking[0]["added_error"] > 0 and ranking[0]["node"].startswith("#")
    # TFLite operators are no ONNX nodes: no exclude_nodes line that onnx-quantize would refuse
    assert ranking[0]["suggestions"][0].startswith("keep it in float (") and all(
        "exclude_nodes" not in fix for r in ranking for fix in r["suggestions"]
    )
    assert any("dequantized" in note for note in section["notes"])
    # the float build against itself: no error anywhere
    same = layer_section(reference, reference, 16, "tflite", "tflite", {})
    assert all(row["snr_db"] == MAX_SNR_DB and row["max_abs_error"] == 0.0 for row in same["tensors"])
    assert all(row["cosine_similarity"] == pytest.approx(1.0) for row in same["tensors"])
