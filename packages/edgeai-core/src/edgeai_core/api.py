"""The plugin API: everything a plugin may import from edgeai-core, and nothing else.

Plugins (first-party ones too) import only from this module, so the rest of ``edgeai_core`` stays private and
free to change. A test in this repository enforces it for the first-party packages.

Names are resolved lazily: a registration module that imports ``hookimpl`` and a record type here does not
pull in numpy or the component machinery, which keeps ``edgeai`` start-up fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgeai_core.lazy import LazyExports

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
    "AnalyzerRecord": "records",
    "ExecutorRecord": "records",
    "Executor": "executors",
    "Job": "executors",
    "Outcome": "executors",
    "SweepExecution": "executors",
    "run_job": "executors",
    "StepCache": "stepcache",
    "ModelAnalyzer": "components",
    "ModelComplexity": "complexity",
    "LayerComplexity": "complexity",
    "AnalysisError": "complexity",
    "TargetProfile": "targetprofiles",
    "TargetFileError": "targetprofiles",
    "read_target_text": "targetprofiles",
    "load_target_file": "targetprofiles",
    # per-layer profiles and numerics
    "LayerProfile": "profiling",
    "ModelProfile": "profiling",
    "ProfileUnavailable": "profiling",
    "mapped": "profiling",
    "LayerCapture": "layerwise",
    "LayerNode": "layerwise",
    "DemoVariant": "records",
    "GridSuiteRecord": "records",
    "OnnxBackendRecord": "records",
    "KnownComponent": "records",
    # parameters
    "Param": "params",
    "ParamSet": "params",
    "REQUIRED": "params",
    # components
    "Context": "components",
    "Component": "components",
    "Split": "components",
    "order_inputs": "components",
    "PLACEHOLDER_INPUT": "components",
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
    "existing_file": "artifacts",
    "step_metadata": "lineage",
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
    # guidance where numbers surprise (the report's comparison and the demo summary)
    "slow_build_notes": "guidance",
    "allowed_difference": "fidelity",
    # trainable classifiers: parameter declarations (light), the framework-free training kit, architectures
    "TrainingHelp": "shared_params",
    "training_params": "shared_params",
    "mobilenet_params": "shared_params",
    "verify_params": "shared_params",
    "threads_param": "shared_params",
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
    # compatibility grid and ONNX backend interfaces (the engines live in the commands' plugin)
    "GridModel": "compat_types",
    "GridSuite": "compat_types",
    "ImportUnsupported": "compat_types",
    "Prepared": "compat_types",
    "BackendSession": "compat_types",
    "OnnxBackend": "compat_types",
    # for plugins that add commands running pipelines or plugin hosts of their own
    "ConfigError": "errors",
    "UnknownComponentError": "errors",
    "StreamProgress": "progress",
    "PluginHost": "plugins",
    "parse_value": "config",
    "parse_config": "config",
    "apply_overrides": "config",
    "plan_pipeline": "planner",
    "check_plan_installed": "readiness",
    "check_plan_inputs": "inputcheck",
    "Variant": "variants",
    "train_shared": "variants",
    "run_planned": "variants",
    "host_for": "cli",
    "echo_json": "cli.info",
    "text_table": "cli.info",
    "folder_option": "cli.info",
    "claim_output": "cli.outputs",
    "complete_component": "cli.completion",
    "explicit_output": "cli.outputs",
    "force_option": "cli.outputs",
    "csv_option": "summarycsv",
    "rows_from_results": "summarycsv",
    "summary_row": "summarycsv",
    "write_summary_csv": "summarycsv",
    # what grid suites share, whatever the framework
    "grid_models": "gridkit",
    "seeded_input": "gridkit",
    "module_versions": "gridkit",
    "import_for_onnx": "gridkit",
    # emulated targets (edgeai-emulator): their latency is emulated time
    "EMULATED_TIME_LABEL": "emulation",
    "is_emulated": "emulation",
    # detection and segmentation: targets, predictions and decoders of model outputs
    "BoxTargets": "tasks",
    "Detections": "tasks",
    "PostprocessError": "tasks",
    "IGNORE_INDEX": "tasks",
    "box_targets_array": "tasks",
    "check_box_targets": "tasks",
    "check_masks": "tasks",
    "check_postprocess": "tasks",
    "decode_predictions": "tasks",
    "primary_metric": "tasks",
    "PRIMARY_LABEL": "tasks",
    "PRIMARY_METRIC": "tasks",
    "png_base64": "taskeval",
    # guest instructions per inference on an emulated target (the results' ``instructions`` section)
    "InstructionCountError": "instructions",
    "InstructionRun": "instructions",
    "InstructionsSection": "instructions",
    # a user's own detection or segmentation model file: the declared task and how its outputs read
    "task_params": "shared_params",
    "declared_task": "tasks",
}

_LAZY = LazyExports(__name__, _EXPORTS, globals())

__all__ = [  # a literal list, so that type checkers see what is exported
    "DTYPES",
    "EMULATED_TIME_LABEL",
    "IGNORE_INDEX",
    "MAX_MESSAGE",
    "MOBILENETV2_STAGES",
    "PLACEHOLDER_INPUT",
    "PRIMARY_LABEL",
    "PRIMARY_METRIC",
    "REQUIRED",
    "SIDECAR_SUFFIX",
    "SPLITS",
    "AnalysisError",
    "AnalyzerRecord",
    "Artifact",
    "ArtifactError",
    "BackendSession",
    "BoxTargets",
    "Compiler",
    "CompilerRecord",
    "Component",
    "ConfigError",
    "Context",
    "Converter",
    "ConverterRecord",
    "Dataset",
    "DatasetError",
    "DatasetRecord",
    "DemoVariant",
    "Detections",
    "EdgeaiError",
    "EpochBook",
    "Executor",
    "ExecutorRecord",
    "GridModel",
    "GridSuite",
    "GridSuiteRecord",
    "IOSpec",
    "ImportUnsupported",
    "InstructionCountError",
    "InstructionRun",
    "InstructionsSection",
    "InvertedResidualPlan",
    "Job",
    "KnownComponent",
    "LayerCapture",
    "LayerComplexity",
    "LayerNode",
    "LayerProfile",
    "MissingDependencyError",
    "MobileNetV2Plan",
    "Model",
    "ModelAnalyzer",
    "ModelComplexity",
    "ModelProfile",
    "ModelRecord",
    "NullProgress",
    "OnnxBackend",
    "OnnxBackendRecord",
    "Outcome",
    "Param",
    "ParamSet",
    "ParameterError",
    "PluginHost",
    "PostprocessError",
    "Prepared",
    "ProbeRecord",
    "ProfileUnavailable",
    "Progress",
    "Protocol",
    "ProtocolRecord",
    "Registration",
    "ResourceProbe",
    "Runtime",
    "RuntimeFailure",
    "RuntimeRecord",
    "Split",
    "StepCache",
    "Stream",
    "StreamProgress",
    "SweepExecution",
    "TargetFileError",
    "TargetProfile",
    "TensorSpec",
    "TrainResult",
    "TrainSettings",
    "TrainableClassifier",
    "TrainingHelp",
    "UnknownComponentError",
    "UsageError",
    "Variant",
    "allowed_difference",
    "apply_overrides",
    "box_targets_array",
    "build_architecture",
    "channel_axis",
    "check_box_targets",
    "check_input_shape",
    "check_masks",
    "check_plan_inputs",
    "check_plan_installed",
    "check_postprocess",
    "claim_output",
    "complete_component",
    "condense",
    "csv_option",
    "declared_task",
    "decode_predictions",
    "dequantize",
    "echo_json",
    "existing_file",
    "explicit_output",
    "fits_input",
    "folder_option",
    "force_option",
    "grid_models",
    "hookimpl",
    "hookspec",
    "host_for",
    "import_for_onnx",
    "import_optional",
    "input_normalization",
    "is_emulated",
    "jsonable",
    "latency_stats",
    "load_schema",
    "load_target_file",
    "make_divisible",
    "mapped",
    "mobilenet_params",
    "mobilenetv2_plan",
    "mobilenetv2_strides",
    "module_versions",
    "order_inputs",
    "parse_config",
    "parse_value",
    "plan_pipeline",
    "png_base64",
    "primary_metric",
    "quantize",
    "read_target_text",
    "recover_partial",
    "rows_from_results",
    "run_job",
    "run_planned",
    "seeded_input",
    "shape_text",
    "sidecar_metadata",
    "slow_build_notes",
    "split_arrays",
    "step_metadata",
    "summary_row",
    "task_params",
    "text_table",
    "threads_param",
    "top1_accuracy",
    "train_shared",
    "training_params",
    "training_splits",
    "verify_params",
    "write_json_atomic",
    "write_summary_csv",
]


def __getattr__(name: str) -> Any:
    return _LAZY.resolve(name)


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
    from edgeai_core.artifacts import (
        DTYPES,
        SIDECAR_SUFFIX,
        Artifact,
        IOSpec,
        TensorSpec,
        existing_file,
        write_json_atomic,
    )
    from edgeai_core.cli import host_for
    from edgeai_core.cli.completion import complete_component
    from edgeai_core.cli.info import echo_json, folder_option, text_table
    from edgeai_core.cli.outputs import claim_output, explicit_output, force_option
    from edgeai_core.compat_types import (
        BackendSession,
        GridModel,
        GridSuite,
        ImportUnsupported,
        OnnxBackend,
        Prepared,
    )
    from edgeai_core.complexity import AnalysisError as AnalysisError
    from edgeai_core.complexity import LayerComplexity as LayerComplexity
    from edgeai_core.complexity import ModelComplexity as ModelComplexity
    from edgeai_core.components import PLACEHOLDER_INPUT as PLACEHOLDER_INPUT
    from edgeai_core.components import SPLITS as SPLITS
    from edgeai_core.components import Compiler as Compiler
    from edgeai_core.components import Component as Component
    from edgeai_core.components import Context as Context
    from edgeai_core.components import Converter as Converter
    from edgeai_core.components import Dataset as Dataset
    from edgeai_core.components import Model as Model
    from edgeai_core.components import ModelAnalyzer as ModelAnalyzer
    from edgeai_core.components import Protocol as Protocol
    from edgeai_core.components import ResourceProbe as ResourceProbe
    from edgeai_core.components import Runtime as Runtime
    from edgeai_core.components import Split as Split
    from edgeai_core.components import Stream as Stream
    from edgeai_core.components import order_inputs as order_inputs
    from edgeai_core.config import apply_overrides, parse_config, parse_value
    from edgeai_core.emulation import EMULATED_TIME_LABEL, is_emulated
    from edgeai_core.errors import (
        ArtifactError,
        ConfigError,
        DatasetError,
        EdgeaiError,
        MissingDependencyError,
        ParameterError,
        RuntimeFailure,
        UnknownComponentError,
        UsageError,
    )
    from edgeai_core.executors import Executor as Executor
    from edgeai_core.executors import Job as Job
    from edgeai_core.executors import Outcome as Outcome
    from edgeai_core.executors import SweepExecution as SweepExecution
    from edgeai_core.executors import run_job as run_job
    from edgeai_core.fidelity import allowed_difference
    from edgeai_core.gridkit import grid_models, import_for_onnx, module_versions, seeded_input
    from edgeai_core.guidance import slow_build_notes
    from edgeai_core.hookspecs import hookimpl, hookspec
    from edgeai_core.inputcheck import check_plan_inputs as check_plan_inputs
    from edgeai_core.instructions import InstructionCountError, InstructionRun, InstructionsSection
    from edgeai_core.jsonvalues import jsonable
    from edgeai_core.layerwise import LayerCapture as LayerCapture
    from edgeai_core.layerwise import LayerNode as LayerNode
    from edgeai_core.lineage import step_metadata
    from edgeai_core.measurement import load_schema, recover_partial
    from edgeai_core.optional import import_optional
    from edgeai_core.params import REQUIRED, Param, ParamSet
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.plugins import PluginHost
    from edgeai_core.profiling import LayerProfile as LayerProfile
    from edgeai_core.profiling import ModelProfile as ModelProfile
    from edgeai_core.profiling import ProfileUnavailable as ProfileUnavailable
    from edgeai_core.profiling import mapped as mapped
    from edgeai_core.progress import NullProgress, Progress, StreamProgress
    from edgeai_core.readiness import check_plan_installed
    from edgeai_core.records import AnalyzerRecord as AnalyzerRecord
    from edgeai_core.records import CompilerRecord as CompilerRecord
    from edgeai_core.records import ConverterRecord as ConverterRecord
    from edgeai_core.records import DatasetRecord as DatasetRecord
    from edgeai_core.records import DemoVariant as DemoVariant
    from edgeai_core.records import ExecutorRecord as ExecutorRecord
    from edgeai_core.records import GridSuiteRecord as GridSuiteRecord
    from edgeai_core.records import KnownComponent as KnownComponent
    from edgeai_core.records import ModelRecord as ModelRecord
    from edgeai_core.records import OnnxBackendRecord as OnnxBackendRecord
    from edgeai_core.records import ProbeRecord as ProbeRecord
    from edgeai_core.records import ProtocolRecord as ProtocolRecord
    from edgeai_core.records import Registration as Registration
    from edgeai_core.records import RuntimeRecord as RuntimeRecord
    from edgeai_core.shared_params import (
        TrainingHelp,
        mobilenet_params,
        threads_param,
        training_params,
        verify_params,
    )
    from edgeai_core.shared_params import task_params as task_params
    from edgeai_core.stats import latency_stats
    from edgeai_core.stepcache import StepCache as StepCache
    from edgeai_core.summarycsv import csv_option, rows_from_results, summary_row, write_summary_csv
    from edgeai_core.targetprofiles import TargetFileError as TargetFileError
    from edgeai_core.targetprofiles import TargetProfile as TargetProfile
    from edgeai_core.targetprofiles import load_target_file as load_target_file
    from edgeai_core.targetprofiles import read_target_text as read_target_text
    from edgeai_core.taskeval import png_base64
    from edgeai_core.tasks import (
        IGNORE_INDEX,
        PRIMARY_LABEL,
        PRIMARY_METRIC,
        BoxTargets,
        Detections,
        PostprocessError,
        box_targets_array,
        check_box_targets,
        check_masks,
        check_postprocess,
        decode_predictions,
        primary_metric,
    )
    from edgeai_core.tasks import declared_task as declared_task
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
    from edgeai_core.variants import Variant, run_planned, train_shared
