"""Per-layer profiles (``benchmark.profile``) and per-layer numerics (``fidelity.layers``) on ONNX Runtime, with
onnx-quantize's ``exclude_nodes``: small graphs built node by node with onnx.helper, so every node name is known.

Stated share: ONNX Runtime's kernels (its ``Node`` events) add up to at most the whole ``model_run`` time and,
on these models, to at least :data:`MIN_COVERAGE` of it (the rest is the executor between kernels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeai_core.config import parse_config
from edgeai_core.errors import ParameterError
from edgeai_core.measurement import schema_path
from edgeai_core.planner import plan_pipeline
from edgeai_core.runner import Runner

#: the least share of the whole-model time that the per-layer times add up to (see the module docstring)
MIN_COVERAGE = 0.2
FAST = {"warmup": 2, "min_count": 10, "min_duration_s": 0.0}
CONV_NODES = ["conv1", "relu1", "conv2", "relu2", "conv3", "gap", "flatten"]


def conv_net(path: Path, *, size: int = 8, width: int = 8, outlier: float | None = None) -> Path:
    """x (N, 3, size, size) -> conv1 -> relu1 -> conv2 -> relu2 -> conv3 -> gap -> flatten -> y (N, 4).

    ``outlier``: conv1's last channel is dead (zero weights, so relu1 gives 0 there) and conv2 reads it with
    one weight of that value: the activations are unchanged, but one per-tensor weight scale for conv2 then
    crushes its other weights. conv2 is the one sensitive layer."""
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((width, 3, 3, 3)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((width, width, 3, 3)) * 0.1).astype(np.float32)
    w3 = (rng.standard_normal((4, width, 3, 3)) * 0.1).astype(np.float32)
    if outlier is not None:
        w1[-1] = 0.0
        w2[:, -1, 1, 1] = outlier
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=pads),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=pads),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3"], ["c3"], name="conv3", pads=pads),
        helper.make_node("GlobalAveragePool", ["c3"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["y"], name="flatten"),
    ]
    graph = helper.make_graph(
        nodes,
        "conv-net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(w, n) for w, n in ((w1, "w1"), (w2, "w2"), (w3, "w3"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def left_out(profile: dict[str, Any]) -> int:
    """Runs a profile left out as stalled (another process took the CPU), from its notes."""
    return sum(int(n.split(" of ")[0]) for n in profile.get("notes", ()) if "runs left out" in n)


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)
    return doc


def _run(host: Any, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    return validate(Runner(plan_pipeline(parse_config(config), host), out, host=host).run())


def _bench(model: Path, **runtime: Any) -> dict[str, Any]:
    return {
        "model": {"name": "onnx-file", "path": str(model)},
        "runtime": {"name": "onnxruntime", "threads": 1, **runtime},
        "benchmark": {**FAST, "profile": True, "profile_runs": 10},
        "resources": {"enabled": False},
    }


def test_an_unfused_model_maps_every_kernel_to_its_onnx_node(host: Any, tmp_path: Path) -> None:
    model = conv_net(tmp_path / "net.onnx", size=32, width=16)
    doc = _run(host, tmp_path / "run", _bench(model, graph_optimization="disable"))
    profile = doc["profile"]
    assert (profile["status"], profile["runtime"], profile["where"]) == ("ok", "onnxruntime", "local")
    assert profile["profiler"] == "onnxruntime" and profile["runs"] + left_out(profile) == 10
    layers = profile["layers"]
    assert sorted(layer["name"] for layer in layers) == sorted(CONV_NODES)
    for layer in layers:
        assert layer["onnx_nodes"] == [layer["name"]] and layer["mapping"] == "exact" and not layer["fused"]
        assert layer["calls"] == 1.0
    assert {layer["name"]: layer["op_type"] for layer in layers}["conv2"] == "Conv"
    assert [layer["mean_us"] for layer in layers] == sorted(
        (layer["mean_us"] for layer in layers), reverse=True
    )
    assert sum(layer["share"] for layer in layers) == pytest.approx(1.0)
    assert profile["layers_us"] == pytest.approx(sum(layer["mean_us"] for layer in layers))
    assert MIN_COVERAGE <= profile["coverage"] <= 1.0
    assert profile["coverage"] == pytest.approx(profile["layers_us"] / profile["model_us"])
    # the timed benchmark ran as usual and is not the profile pass's
    assert doc["latency"]["stats"]["count"] == 10 and doc["status"] == "complete"


def test_an_optimized_model_maps_fused_kernels_to_groups(host: Any, tmp_path: Path) -> None:
    model = conv_net(tmp_path / "net.onnx", size=32, width=16)
    doc = _run(host, tmp_path / "run", _bench(model))  # graph_optimization "all": Conv+Relu fuse
    profile = doc["profile"]
    assert profile["status"] == "ok" and MIN_COVERAGE <= profile["coverage"] <= 1.0
    groups = [layer["onnx_nodes"] for layer in profile["layers"] if layer["mapping"] == "fused"]
    assert ["conv1", "relu1"] in groups and ["conv2", "relu2"] in groups
    mapped = {n for layer in profile["layers"] for n in layer["onnx_nodes"]}
    assert mapped == set(CONV_NODES), "every ONNX node is accounted for, alone or in a group"
    # layout reorders ONNX Runtime inserts have no ONNX node: said so, not guessed
    for layer in profile["layers"]:
        if not layer["onnx_nodes"]:
            assert layer["mapping"] == "unknown" and "Reorder" in layer["op_type"]


def test_a_runtime_without_a_profiler_records_why(host: Any, tmp_path: Path) -> None:
    from edgeai_core.profiling import ProfileSection, profile_runtime

    class Plain:
        def profile(self, inputs: Any, runs: int) -> None:
            return None

    section = profile_runtime(Plain(), "plain", [], 3, "local")
    assert section == ProfileSection(
        "unavailable", "plain", "local", reason="runtime plain cannot profile per layer"
    )


@pytest.mark.subprocess
def test_a_remote_target_profiles_and_returns_the_layers(tmp_path: Path, bench_remote_json: Any) -> None:
    model = conv_net(tmp_path / "net.onnx", size=16)
    summary = bench_remote_json(
        "onnxruntime", model, "--count", "10", "--warmup", "2", "--profile",
        "--set", "runtime.graph_optimization=disable", cwd=tmp_path,
    )  # fmt: skip
    profile = summary["profile"]
    assert (profile["status"], profile["where"]) == ("ok", "target")
    assert profile["runs"] + left_out(profile) == 20
    assert MIN_COVERAGE <= profile["coverage"] <= 1.0
    doc = validate(json.loads((tmp_path / summary["results"]).read_text()))
    layers = doc["profile"]["layers"]
    assert sorted(layer["name"] for layer in layers) == sorted(CONV_NODES)
    assert all(layer["onnx_nodes"] == [layer["name"]] for layer in layers)
    assert list(tmp_path.glob("server/**/ort-profile-*.json")) == [], "the target removed its trace file"


# -- per-layer numerics and exclude_nodes -----------------------------------------------------------------


def _quantize(host: Any, out: Path, model: Path, **step: Any) -> dict[str, Any]:
    config = {
        "dataset": {"name": "test-generated", "shape": [3, 8, 8], "classes": 4},
        "model": {"name": "onnx-file", "path": str(model)},
        "steps": [{"name": "onnx-quantize", "per_channel": False, **step}],
        "runtime": {"name": "onnxruntime", "threads": 1},
        "benchmark": FAST,
        "resources": {"enabled": False},
        "fidelity": {"layers": True, "samples": 16},
    }
    return _run(host, out, config)


def test_the_sensitive_layer_ranks_first_and_excluding_it_cuts_the_error(host: Any, tmp_path: Path) -> None:
    model = conv_net(tmp_path / "net.onnx", outlier=40.0)
    doc = _quantize(host, tmp_path / "int8", model)
    step = doc["fidelity"]["steps"][0]
    assert (step["step"], step["precision"]) == ("onnx-quantize", "int8")
    layers = step["layers"]
    assert layers["status"] == "ok" and layers["samples"] == 8
    assert (layers["reference_runtime"], layers["runtime"]) == ("onnxruntime", "onnxruntime")
    first = layers["ranking"][0]
    assert first["node"] == "conv2" and first["op_type"] == "Conv"
    assert first["added_error"] > 10 * layers["ranking"][1]["added_error"]
    assert 'exclude_nodes = ["conv2"' in first["suggestions"][0]
    assert "per_channel = true" in first["suggestions"][1]
    tensors = {t["tensor"]: t for t in layers["tensors"]}
    assert tensors["r1"]["snr_db"] > 30 and tensors["r2"]["snr_db"] < 10  # the error appears at conv2
    for row in layers["tensors"]:
        assert row["added_error"] == pytest.approx(row["relative_error"] - row["input_relative_error"])
        assert -1.0 <= row["cosine_similarity"] <= 1.0 and row["max_abs_error"] >= 0

    kept = _quantize(host, tmp_path / "kept", model, exclude_nodes=["conv2"])
    better = kept["fidelity"]["steps"][0]
    assert better["relative_error"] < step["relative_error"] / 10
    assert better["cosine_similarity"] > 0.999 > step["cosine_similarity"]
    assert better["status"] == "ok" and step["status"] == "over_tolerance"
    quantize_step = next(s for s in kept["steps"] if s["name"] == "onnx-quantize")
    assert quantize_step["metadata"]["exclude_nodes"] == ["conv2"]
    # the model says which nodes stay float, and the runtime keeps ONNX Runtime from re-quantizing them
    path = tmp_path / "kept" / quantize_step["artifact"]["path"]
    graph = onnx.load(str(path))
    assert {p.key: p.value for p in graph.metadata_props}["edgeai.exclude_nodes"] == "conv2"
    conv2 = next(n for n in graph.graph.node if n.name == "conv2")
    assert conv2.input[1] == "w2", "conv2 reads its float weight"
    from edgeai_core.artifacts import Artifact
    from edgeai_onnx.runtime import OnnxRuntime

    runtime = host.get("runtime", "onnxruntime").create({}, where="runtime")
    assert isinstance(runtime, OnnxRuntime)
    runtime.load(Artifact.load(path))
    assert runtime.disabled_optimizers == ["WeightBiasQuantization"]
    assert kept["fidelity"]["steps"][0]["layers"]["ranking"][0]["node"] != "conv2"


def test_exclude_nodes_names_the_nodes_when_one_is_unknown(host: Any, tmp_path: Path) -> None:
    model = conv_net(tmp_path / "net.onnx")
    with pytest.raises(
        Exception, match=r"no node named 'conv9' in the model \(nodes: conv1, conv2"
    ) as caught:
        _quantize(host, tmp_path / "bad", model, exclude_nodes=["conv9"])
    assert isinstance(caught.value.__cause__, ParameterError)


def test_a_float_step_records_per_layer_numerics_too(host: Any, tmp_path: Path) -> None:
    model = conv_net(tmp_path / "net.onnx")
    doc = _quantize(host, tmp_path / "fp16", model, mode="float16")
    layers = doc["fidelity"]["steps"][0]["layers"]
    assert layers["status"] == "ok"
    assert [t["tensor"] for t in layers["tensors"]][:2] == ["c1", "r1"]
    assert all(t["snr_db"] > 40 for t in layers["tensors"])
