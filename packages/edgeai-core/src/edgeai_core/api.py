"""The plugin API: everything a plugin may import from edgeai-core, and nothing else.

Plugins (first-party ones too) import only from this module, so the rest of ``edgeai_core`` stays private and
free to change. A test in this repository enforces it for the first-party packages.

Names are resolved lazily: a registration module that imports ``hookimpl`` and a record type here does not
pull in numpy or the component machinery, which keeps ``edgeai`` start-up fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> module (relative to edgeai_core) that defines it
_EXPORTS: dict[str, str] = {
    # plugin host and registration records
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
    "Registration": "records",
    "DatasetRecord": "records",
    "ModelRecord": "records",
    "CompilerRecord": "records",
    "ConverterRecord": "records",
    "RuntimeRecord": "records",
    "ProtocolRecord": "records",
    "ProbeRecord": "records",
    "DemoVariant": "records",
    "GridSuiteRecord": "records",
    "OnnxBackendRecord": "records",
    # parameters
    "Param": "params",
    "ParamSet": "params",
    "REQUIRED": "params",
    # components
    "Context": "components",
    "Component": "components",
    "Split": "components",
    "SPLITS": "components",
    "Dataset": "components",
    "Model": "components",
    "Compiler": "components",
    "Converter": "components",
    "Runtime": "components",
    "Stream": "components",
    "Protocol": "components",
    "ResourceProbe": "components",
    # artifacts
    "Artifact": "artifacts",
    "IOSpec": "artifacts",
    "TensorSpec": "artifacts",
    "DTYPES": "artifacts",
    "SIDECAR_SUFFIX": "artifacts",
    "write_json_atomic": "artifacts",
    # errors
    "EdgeaiError": "errors",
    "UsageError": "errors",
    "ParameterError": "errors",
    "ArtifactError": "errors",
    "DatasetError": "errors",
    "RuntimeFailure": "errors",
    "MissingDependencyError": "errors",
    "import_optional": "optional",
    # progress and statistics
    "Progress": "progress",
    "NullProgress": "progress",
    "latency_stats": "stats",
    # the measurement document (results.json): its JSON Schema, and a document rebuilt from a progress file
    "load_schema": "measurement",
    "recover_partial": "measurement",
    # shared helpers: one-line messages, tensors against their IO spec, JSON-ready values
    "MAX_MESSAGE": "text",
    "condense": "text",
    "shape_text": "text",
    "channel_axis": "tensors",
    "quantize": "tensors",
    "dequantize": "tensors",
    "fits_input": "tensors",
    "check_input_shape": "tensors",
    "input_normalization": "tensors",
    "jsonable": "jsonvalues",
    # trainable classifiers: parameter declarations (light), the framework-free training kit, architectures
    "TrainingHelp": "shared_params",
    "training_params": "shared_params",
    "mobilenet_params": "shared_params",
    "verify_params": "shared_params",
    "TrainSettings": "training",
    "TrainResult": "training",
    "EpochBook": "training",
    "TrainableClassifier": "training",
    "split_arrays": "training",
    "training_splits": "training",
    "top1_accuracy": "training",
    "sidecar_metadata": "training",
    "MOBILENETV2_STAGES": "architectures",
    "MobileNetV2Plan": "architectures",
    "InvertedResidualPlan": "architectures",
    "make_divisible": "architectures",
    "mobilenetv2_strides": "architectures",
    "mobilenetv2_plan": "architectures",
    "build_architecture": "architectures",
    # compatibility grid and ONNX backend interfaces (engines live in edgeai-compat)
    "GridModel": "grid",
    "GridSuite": "grid",
    "ImportUnsupported": "grid",
    "Prepared": "grid",
    "BackendSession": "onnx_backends",
    "OnnxBackend": "onnx_backends",
    # what grid suites share, whatever the framework
    "grid_models": "gridkit",
    "seeded_input": "gridkit",
    "module_versions": "gridkit",
    "import_for_onnx": "gridkit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeai_core.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"edgeai_core.{module}"), name)
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # static view of the same names for type checkers and IDEs
    from edgeai_core.architectures import (
        MOBILENETV2_STAGES,
        InvertedResidualPlan,
        MobileNetV2Plan,
        build_architecture,
        make_divisible,
        mobilenetv2_plan,
        mobilenetv2_strides,
    )
    from edgeai_core.artifacts import DTYPES, SIDECAR_SUFFIX, Artifact, IOSpec, TensorSpec, write_json_atomic
    from edgeai_core.components import (
        SPLITS,
        Compiler,
        Component,
        Context,
        Converter,
        Dataset,
        Model,
        Protocol,
        ResourceProbe,
        Runtime,
        Split,
        Stream,
    )
    from edgeai_core.errors import (
        ArtifactError,
        DatasetError,
        EdgeaiError,
        MissingDependencyError,
        ParameterError,
        RuntimeFailure,
        UsageError,
    )
    from edgeai_core.grid import GridModel, GridSuite, ImportUnsupported, Prepared
    from edgeai_core.gridkit import grid_models, import_for_onnx, module_versions, seeded_input
    from edgeai_core.hookspecs import hookimpl, hookspec
    from edgeai_core.jsonvalues import jsonable
    from edgeai_core.measurement import load_schema, recover_partial
    from edgeai_core.onnx_backends import BackendSession, OnnxBackend
    from edgeai_core.optional import import_optional
    from edgeai_core.params import REQUIRED, Param, ParamSet
    from edgeai_core.progress import NullProgress, Progress
    from edgeai_core.records import (
        CompilerRecord,
        ConverterRecord,
        DatasetRecord,
        DemoVariant,
        GridSuiteRecord,
        ModelRecord,
        OnnxBackendRecord,
        ProbeRecord,
        ProtocolRecord,
        Registration,
        RuntimeRecord,
    )
    from edgeai_core.shared_params import TrainingHelp, mobilenet_params, training_params, verify_params
    from edgeai_core.stats import latency_stats
    from edgeai_core.tensors import (
        channel_axis,
        check_input_shape,
        dequantize,
        fits_input,
        input_normalization,
        quantize,
    )
    from edgeai_core.text import MAX_MESSAGE, condense, shape_text
    from edgeai_core.training import (
        EpochBook,
        TrainableClassifier,
        TrainResult,
        TrainSettings,
        sidecar_metadata,
        split_arrays,
        top1_accuracy,
        training_splits,
    )
