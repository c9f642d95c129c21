"""edgeai-tvm's compiler and runtime pass the plugin-author conformance kit (edgeai_core.testing).

The input is the digits CNN (one epoch on 200 digits) exported to ONNX by edgeai-torch; the TVM runtime's outputs
are compared with ONNX Runtime's on that ONNX file.
"""

from __future__ import annotations

import pytest

from edgeai_core.testing import CompilerConformance, RuntimeConformance

for _module in ("edgeai_datasets", "edgeai_torch", "edgeai_onnx", "onnxruntime"):
    pytest.importorskip(_module, reason=f"the digits CNN road needs {_module}")

PLUGIN = "edgeai_tvm.plugin"
ALSO = ("edgeai_datasets.plugin", "edgeai_torch.plugin", "edgeai_onnx.plugin")
DIGITS = {"limit": 200}
TO_ONNX = (("torch-to-onnx", {}),)


class _OnnxCnn:
    model, model_params = "digits-cnn", {"epochs": 1}
    dataset, dataset_params = "digits", DIGITS
    steps = TO_ONNX


class TestTvmCompiler(_OnnxCnn, CompilerConformance):
    plugin, also = PLUGIN, ALSO
    component = "tvm"
    params = {"batch": "dynamic"}  # noqa: RUF012
    runtime = "tvm"


class TestTvmRuntime(_OnnxCnn, RuntimeConformance):
    plugin, also = PLUGIN, ALSO
    component = "tvm"
    steps = (*TO_ONNX, ("tvm", {"batch": "dynamic"}))
    reference_runtime, reference_steps = "onnxruntime", TO_ONNX
    atol = 1e-4
