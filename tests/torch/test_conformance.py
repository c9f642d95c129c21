"""edgeai-torch's components pass the plugin-author conformance kit (edgeai_core.testing).

Tiny configs: the digits dataset limited to 200 samples, one training epoch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact
from edgeai_core.plugins import PluginHost
from edgeai_core.testing import ConverterConformance, ModelConformance, RuntimeConformance

pytest.importorskip("edgeai_datasets", reason="edgeai-datasets provides the digits dataset")

PLUGIN = "edgeai_torch.plugin"
ALSO = ("edgeai_datasets.plugin",)
DIGITS = {"limit": 200}
CNN = {"epochs": 1}


class TestDigitsCnn(ModelConformance):
    plugin, also = PLUGIN, ALSO
    component = "digits-cnn"
    params = CNN
    dataset, dataset_params = "digits", DIGITS


class TestMobileNetV2(TestDigitsCnn):
    component = "mobilenetv2"
    params = {"epochs": 1, "width": 0.1, "channels": 1, "image_size": 8}  # noqa: RUF012


@pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None or importlib.util.find_spec("edgeai_onnx") is None,
    reason="torch-to-onnx needs onnx (edgeai-torch[onnx]); its output runs on edgeai-onnx's onnxruntime",
)
class TestTorchToOnnx(ConverterConformance):
    plugin, also = PLUGIN, (*ALSO, "edgeai_onnx.plugin")
    component = "torch-to-onnx"
    model, model_params = "digits-cnn", CNN
    dataset, dataset_params = "digits", DIGITS
    runtime = "onnxruntime"


class TestTorchRuntime(RuntimeConformance):
    plugin, also = PLUGIN, ALSO
    component = "torch"
    model, model_params = "digits-cnn", CNN
    dataset, dataset_params = "digits", DIGITS

    def reference_outputs(
        self, host: PluginHost, artifact: Artifact, inputs: list[np.ndarray], dataset: Any, workdir: Path
    ) -> list[np.ndarray]:
        """The checkpoint's module called directly."""
        import torch

        from edgeai_torch.checkpoint import load_checkpoint

        module = load_checkpoint(artifact.path).module.eval()
        with torch.inference_mode():
            return [module(torch.from_numpy(inputs[0])).numpy()]


class TestTorchRuntimeTraced(RuntimeConformance):
    plugin, also = PLUGIN, ALSO
    component = "torch"
    params = {"mode": "traced"}  # noqa: RUF012
    model, model_params = "digits-cnn", CNN
    dataset, dataset_params = "digits", DIGITS
    reference_runtime = "torch"  # eager
