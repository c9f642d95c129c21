"""The tvm runtime's per-layer profile (``benchmark.profile``): the Relax VM's instrument hook, its calls mapped
to the ONNX nodes the compiler recorded (by operator kind and order).

Stated share: the VM's calls happen inside the timed ``main`` call, so their times add up to at most the
whole-model time, and on this small model to at least :data:`MIN_COVERAGE` of it (the rest is the VM's
interpreter, the instrument hook's Python and the Python call; 0.45 to 0.93 measured on a shared 2-core VM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.runner import Runner

MIN_COVERAGE = 0.05


def conv_net(path: Path) -> Path:
    """x (1, 3, 16, 16) -> conv1 -> relu1 -> conv2 -> relu2 -> conv3 -> gap -> flatten -> y (1, 4)."""
    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.standard_normal((8, 3, 3, 3)),
        "w2": rng.standard_normal((8, 8, 3, 3)),
        "w3": rng.standard_normal((4, 8, 3, 3)),
    }
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
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array((w * 0.2).astype(np.float32), n) for n, w in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_the_tvm_runtime_profiles_each_vm_call(host: Any, tmp_path: Path) -> None:
    config = {
        "model": {"name": "onnx-file", "path": str(conv_net(tmp_path / "net.onnx"))},
        "steps": [{"name": "tvm"}],
        "runtime": {"name": "tvm", "threads": 1},
        "benchmark": {"warmup": 2, "min_count": 5, "min_duration_s": 0, "profile": True, "profile_runs": 5},
        "resources": {"enabled": False},
    }
    doc = Runner(plan_pipeline(parse_config(config), host), tmp_path / "run", host=host).run()
    profile = doc["profile"]
    assert (profile["status"], profile["runtime"], profile["profiler"]) == (
        "ok",
        "tvm",
        "tvm-relax-vm-instrument",
    )
    assert MIN_COVERAGE <= profile["coverage"] <= 1.0
    groups = {tuple(layer["onnx_nodes"]) for layer in profile["layers"]}
    # TVM fuses each Conv with the Relu after it; the last Conv stands alone
    assert {("conv1", "relu1"), ("conv2", "relu2"), ("conv3",)} <= groups
    by_nodes = {tuple(layer["onnx_nodes"]): layer for layer in profile["layers"]}
    assert by_nodes[("conv1", "relu1")]["mapping"] == "fused" and by_nodes[("conv3",)]["mapping"] == "exact"
    assert all(layer["onnx_nodes"] == [] for layer in profile["layers"] if layer["op_type"] == "vm.builtin")
    assert sum(layer["share"] for layer in profile["layers"]) == pytest.approx(1.0)
    step = next(s for s in doc["steps"] if s["name"] == "tvm")
    assert [n for n, _ in step["metadata"]["onnx_nodes"]] == [
        "conv1", "relu1", "conv2", "relu2", "conv3", "gap", "flatten"
    ]  # fmt: skip


def test_the_tvm_runtime_exposes_each_compiled_calls_output(host: Any, tmp_path: Path) -> None:
    """Per-layer numerics of a TVM build against the ONNX model: each compiled call's output (read through the
    instrument hook) under the last ONNX node of its group."""
    config = {
        "model": {"name": "onnx-file", "path": str(conv_net(tmp_path / "net.onnx"))},
        "steps": [{"name": "tvm"}],
        "runtime": {"name": "tvm", "threads": 1},
        "benchmark": {"warmup": 1, "min_count": 2, "min_duration_s": 0},
        "resources": {"enabled": False},
        "fidelity": {"layers": True, "samples": 4},
    }
    doc = Runner(plan_pipeline(parse_config(config), host), tmp_path / "run", host=host).run()
    step = next(s for s in doc["fidelity"]["steps"] if s.get("step") == "tvm")
    layers = step["layers"]
    assert (layers["status"], layers["reference_runtime"], layers["runtime"]) == ("ok", "onnxruntime", "tvm")
    rows = {row["tensor"]: row for row in layers["tensors"]}
    # conv1+relu1 and conv2+relu2 ran fused: their Relu outputs are compared, charged to the pair; the
    # GlobalAveragePool (TVM's `mean`) and Flatten (`reshape`) have no mapped call: not compared per layer (the
    # step's output comparison covers y)
    assert list(rows) == ["r1", "r2", "c3"]
    assert rows["r1"]["nodes"] == ["conv1", "relu1"] and rows["r1"]["node"] == "conv1"
    assert rows["c3"]["nodes"] == ["conv3"] and rows["c3"]["op_type"] == "Conv"
    for row in rows.values():  # float32 against float32: rounding only
        assert row["snr_db"] > 80 and row["cosine_similarity"] == pytest.approx(1.0)
        assert row["max_abs_error"] < 1e-3
    assert any("instrument hook" in note for note in layers["notes"])
