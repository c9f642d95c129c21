"""The torch runtime's per-layer profile: torch.profiler ranges around each leaf module of the checkpoint.

Stated share: every leaf module runs inside the profiled forward pass, so their times add up to at most the
pass's time, and to at least :data:`MIN_COVERAGE` of it: low, because torch.profiler's own work and the Python
between modules sit outside the modules' ranges (0.2 to 0.97 measured on the digits CNN on a shared 2-core VM)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

MIN_COVERAGE = 0.05


def test_the_torch_runtime_profiles_each_leaf_module(
    make: Callable[..., Any], checkpoint: Callable[..., Any]
) -> None:
    import torch

    artifact = checkpoint("digits-cnn")
    runtime = make("runtime", "torch", threads=1)
    runtime.load(artifact)
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    profile = runtime.profile([x], 5)
    left_out = [int(n.split(" of ")[0]) for n in profile.notes if "runs left out" in n]
    assert profile.profiler == "torch.profiler" and profile.runs + sum(left_out) == 5  # stalled runs left out
    leaves = [n for n, m in runtime._module.named_modules() if n and not list(m.children())]
    assert sorted(layer.name for layer in profile.layers) == sorted(leaves)
    kinds = {layer.name: layer.op_type for layer in profile.layers}
    assert {type(m).__name__ for n, m in runtime._module.named_modules() if n in leaves} == set(
        kinds.values()
    )
    assert "Conv2d" in kinds.values() and all(layer.calls == 1.0 for layer in profile.layers)
    # the ONNX names are those torch-to-onnx's exporter gives: every one is a node of the exported graph
    import onnx

    exported = make("converter", "torch-to-onnx").convert(artifact)
    graph = {node.name: node.op_type for node in onnx.load(str(exported.path)).graph.node}
    named = [layer for layer in profile.layers if layer.onnx_nodes]
    assert {layer.op_type for layer in named} >= {"Conv2d", "ReLU", "Linear"}
    for layer in named:
        assert layer.mapping == "exact" and layer.onnx_nodes[0] in graph, (layer, sorted(graph))
    assert dict(kinds)["features.0"] == "Conv2d"
    assert next(lay for lay in profile.layers if lay.name == "features.0").onnx_nodes == (
        "/features/features.0/Conv",
    )
    assert all(layer.mapping == "unknown" for layer in profile.layers if not layer.onnx_nodes)
    assert profile.coverage is not None and MIN_COVERAGE <= profile.coverage <= 1.0
    # the hooks are gone: the model's outputs and hooks are as before
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in runtime._module.modules())
    with torch.inference_mode():
        expected = runtime._module(torch.from_numpy(x)).numpy()
    assert np.allclose(runtime.infer([x])[0], expected)
    assert profile.layers_us == pytest.approx(sum(layer.mean_us for layer in profile.layers))
