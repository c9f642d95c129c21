"""The template's components against edgeai's conformance kit: the contracts every plugin must keep."""

from __future__ import annotations

from edgeai_core.testing import CompilerConformance, DatasetConformance, RuntimeConformance

# Registered in-process on a fresh plugin host (next to edgeai-core's built-ins, which bring the numpy-mlp
# model these checks train). Set to None to test the installed distribution through its entry point instead.
PLUGIN = "edgeai_plugin_template.plugin"
WAVES = {"samples": 120, "length": 16}
MLP = {"hidden": [8], "epochs": 5}


class TestWaves(DatasetConformance):
    plugin = PLUGIN
    component = "template-waves"
    params = WAVES


class TestHalfWeights(CompilerConformance):
    plugin = PLUGIN
    component = "template-fp16"
    model, model_params = "numpy-mlp", MLP  # the input artifact: the core's MLP trained on the waves
    dataset, dataset_params = "template-waves", WAVES
    runtime = "template-numpy"  # the output must load and run there


class TestNumpyMlpRuntime(RuntimeConformance):
    plugin = PLUGIN
    component = "template-numpy"
    model, model_params = "numpy-mlp", MLP
    dataset, dataset_params = "template-waves", WAVES
    steps = (("template-fp16", {}),)
    reference_runtime = "numpy"  # the core's reference runtime, on the same artifact
    rtol, atol = 1e-5, 1e-5


class TestNumpyMlpRuntimeFloat64(TestNumpyMlpRuntime):
    params = {"precision": "float64"}  # noqa: RUF012
    rtol, atol = 1e-4, 1e-4
