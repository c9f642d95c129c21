"""edgeai-onnx's components pass the plugin-author conformance kit (edgeai_core.testing).

The model is a seeded two-layer perceptron written node by node with onnx.helper (no torch), loaded through
``onnx-file``; ``digits`` (200 samples) calibrates the quantizer and feeds the runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact
from edgeai_core.plugins import PluginHost
from edgeai_core.testing import CompilerConformance, ModelConformance, RuntimeConformance

pytest.importorskip("edgeai_datasets", reason="edgeai-datasets provides the digits dataset")

PLUGIN = "edgeai_onnx.plugin"
ALSO = ("edgeai_datasets.plugin",)
DIGITS = {"limit": 200}


def mlp_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [
        (rng.standard_normal((64, 16)) * 0.3).astype(np.float32),
        (rng.standard_normal(16) * 0.1).astype(np.float32),
        (rng.standard_normal((16, 10)) * 0.3).astype(np.float32),
        (rng.standard_normal(10) * 0.1).astype(np.float32),
    ]


def write_mlp(path: Path) -> Path:
    """(batch, 1, 8, 8) -> Flatten -> 64x16 -> ReLU -> 16x10 logits, opset 17."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1, b1, w2, b2 = mlp_weights()
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h2"]),
        helper.make_node("Relu", ["h2"], ["h3"]),
        helper.make_node("MatMul", ["h3", "w2"], ["h4"]),
        helper.make_node("Add", ["h4", "b2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [
            numpy_helper.from_array(a, n)
            for a, n in zip((w1, b1, w2, b2), ("w1", "b1", "w2", "b2"), strict=True)
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def mlp_forward(x: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = mlp_weights()
    return np.maximum(x.reshape(len(x), -1) @ w1 + b1, 0) @ w2 + b2


class _FromOnnxFile:
    """The artifact: the MLP loaded by model ``onnx-file``."""

    plugin, also = PLUGIN, ALSO
    model = "onnx-file"
    dataset, dataset_params = "digits", DIGITS

    def model_config(self, workdir: Path) -> dict[str, Any]:
        return {"path": str(write_mlp(workdir / "mlp.onnx"))}


class TestOnnxFile(ModelConformance):
    plugin, also = PLUGIN, ALSO
    component = "onnx-file"
    dataset, dataset_params = "digits", DIGITS

    def component_params(self, workdir: Path) -> dict[str, Any]:
        return {"path": str(write_mlp(workdir / "mlp.onnx"))}


class TestOnnxQuantizeStatic(_FromOnnxFile, CompilerConformance):
    component = "onnx-quantize"
    params = {"calibration_samples": 16}  # noqa: RUF012
    runtime = "onnxruntime"


class TestOnnxQuantizeDynamic(TestOnnxQuantizeStatic):
    params = {"mode": "dynamic"}  # noqa: RUF012


class TestOnnxRuntime(_FromOnnxFile, RuntimeConformance):
    component = "onnxruntime"

    def reference_outputs(
        self, host: PluginHost, artifact: Artifact, inputs: list[np.ndarray], dataset: Any, workdir: Path
    ) -> list[np.ndarray]:
        return [mlp_forward(inputs[0])]
