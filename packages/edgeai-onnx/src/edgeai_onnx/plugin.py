"""Registration of the edgeai-onnx components (entry point ``onnx`` in the ``edgeai`` group).

Records only: this module imports neither ``onnx`` nor ``onnxruntime``, so listing, describing and planning
stay light. The factories named here import the frameworks when a component is built.
"""

from __future__ import annotations

from edgeai_core import (
    AnalyzerRecord,
    CompilerRecord,
    DemoVariant,
    ModelRecord,
    OnnxBackendRecord,
    Param,
    RuntimeRecord,
    hookimpl,
)
from edgeai_core.api import KnownComponent, task_params, threads_param

#: Optimization levels of ``onnxruntime.GraphOptimizationLevel``, by parameter value.
GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    return [
        RuntimeRecord(
            name="onnxruntime",
            summary="ONNX Runtime inference session (CPU by default; any installed execution provider)",
            factory="edgeai_onnx.runtime:OnnxRuntime",
            formats=("onnx",),
            install="edgeai-onnx",
            modules=("onnxruntime",),
            params=(
                threads_param("intra-op threads (0: ONNX Runtime picks one per physical core)", minimum=0),
                Param(
                    "inter_op_threads",
                    "int",
                    default=1,
                    minimum=0,
                    help="inter-op threads, used only with execution_mode parallel (0: ONNX Runtime picks)",
                    host=True,
                ),
                Param(
                    "graph_optimization",
                    "choice",
                    default="all",
                    choices=GRAPH_OPTIMIZATIONS,
                    help="graph optimization level applied when the session is created",
                    host=True,
                ),
                Param(
                    "providers",
                    "list[str]",
                    default=None,
                    help="execution providers in priority order (default: CPUExecutionProvider)",
                ),
                Param(
                    "execution_mode",
                    "choice",
                    default="sequential",
                    choices=("sequential", "parallel"),
                    help="run independent graph branches one after another or in parallel",
                    host=True,
                ),
            ),
        )
    ]


@hookimpl
def edgeai_register_analyzers() -> list[AnalyzerRecord]:
    return [
        AnalyzerRecord(
            name="onnx",
            summary="Complexity of an ONNX graph: per-node shapes, parameters, MACs, FLOPs, peak activations",
            factory="edgeai_onnx.analyzer:OnnxAnalyzer",
            formats=("onnx",),
            install="edgeai-onnx[compile]",
            modules=("onnx",),
            params=(
                Param(
                    "batch_size",
                    "int",
                    default=1,
                    minimum=1,
                    help="value of a dynamic first dimension of the graph's inputs",
                ),
                Param(
                    "dims",
                    "dict",
                    default=None,
                    help="values of other named dynamic dimensions ({name: value}; the rest are 1)",
                ),
            ),
        )
    ]


@hookimpl
def edgeai_register_compilers() -> list[CompilerRecord]:
    return [
        CompilerRecord(
            name="onnx-quantize",
            summary="ONNX Runtime quantization: static int8 (QDQ, calibrated), dynamic int8 or float16",
            factory="edgeai_onnx.quantize:OnnxQuantize",
            input_formats=("onnx",),
            output_format="onnx",
            needs_dataset=True,
            install="edgeai-onnx[compile]",
            modules=("onnx", "onnxruntime"),
            params=(
                Param(
                    "mode",
                    "choice",
                    default="static",
                    choices=("static", "dynamic", "float16"),
                    help="static: int8 weights and activations calibrated on the dataset; dynamic: int8 "
                    "weights, activations quantized at run time; float16: half-precision weights",
                ),
                Param("per_channel", "bool", default=True, help="one weight scale per output channel"),
                Param(
                    "calibration_method",
                    "choice",
                    default="minmax",
                    choices=("minmax", "entropy", "percentile"),
                    help="how static mode picks activation ranges from the calibration samples",
                ),
                Param(
                    "calibration_samples",
                    "int",
                    default=200,
                    minimum=1,
                    help="training samples fed (one at a time) to calibrate static mode",
                ),
                Param(
                    "activation_type",
                    "choice",
                    default="int8",
                    choices=("int8", "uint8"),
                    help="activation integer type in static mode (asymmetric, with a zero point)",
                ),
                Param(
                    "weight_type",
                    "choice",
                    default="int8",
                    choices=("int8", "uint8"),
                    help="weight integer type (static and dynamic modes)",
                ),
                Param(
                    "preprocess",
                    "bool",
                    default=True,
                    help="run ONNX Runtime's quantization pre-processing (shape inference, graph "
                    "optimization) first",
                ),
                Param(
                    "quant_format",
                    "choice",
                    default="qdq",
                    choices=("qdq", "qoperator"),
                    help="static mode: QuantizeLinear/DequantizeLinear pairs (portable, read by TVM) or "
                    "QLinear* operators (ONNX Runtime only)",
                ),
                Param(
                    "exclude_nodes",
                    "list[str]",
                    default=None,
                    help="ONNX node names kept in float (static and dynamic modes; the layers that "
                    "fidelity.layers ranks first)",
                ),
            ),
        )
    ]


@hookimpl
def edgeai_register_models() -> list[ModelRecord]:
    return [
        ModelRecord(
            name="onnx-file",
            summary="Your own pre-trained .onnx model file (validated, IO spec read from the graph)",
            factory="edgeai_onnx.model:OnnxFile",
            format="onnx",
            tasks=("any",),
            trainable=False,
            loads=(".onnx",),
            params=(
                Param("path", "path", help="the .onnx file to load"),
                Param(
                    "check",
                    "choice",
                    default="auto",
                    choices=("auto", "full", "structure"),
                    help="full: the ONNX checker with strict shape inference (needs the onnx package); "
                    "structure: read the protobuf's inputs, outputs and external data without any framework "
                    "(ONNX Runtime validates the graph when it loads it); auto: full where onnx is installed",
                ),
                Param(
                    "input_names",
                    "list[str]",
                    default=None,
                    help="graph inputs to feed, in order (default: every input that is not an initializer)",
                ),
                Param(
                    "output_names",
                    "list[str]",
                    default=None,
                    help="graph outputs to read, in order (default: every output)",
                ),
                Param(
                    "input_shape",
                    "list[int]",
                    default=None,
                    minimum=1,
                    help="shape of the first input, batch included, for graphs with symbolic dimensions",
                ),
                Param(
                    "layout",
                    "choice",
                    default=None,
                    choices=("NCHW", "NHWC"),
                    help="layout of the first input (informative; sets the normalization axis)",
                ),
                Param(
                    "mean",
                    "list[float]",
                    default=None,
                    help="per-channel mean the model expects subtracted from its inputs",
                ),
                Param(
                    "std",
                    "list[float]",
                    default=None,
                    help="per-channel standard deviation the model expects its inputs divided by",
                ),
                *task_params(),
            ),
        )
    ]


_ONE_THREAD = {"name": "onnxruntime", "threads": 1}


@hookimpl
def edgeai_register_demo_variants() -> list[DemoVariant]:
    # The dataset and model tables are identical in every variant (and to the other plugins' variants), so
    # `edgeai demo` trains the CNN once; the planner inserts torch-to-onnx before the ONNX steps.
    variants = DemoVariant.table(
        {"name": "digits"},
        {"name": "digits-cnn", "epochs": 30},
        [
            (
                "onnxruntime-float",
                20,
                "digits CNN exported to ONNX, float32, on ONNX Runtime (1 thread)",
                None,
                _ONE_THREAD,
            ),
            (
                "onnxruntime-int8",
                30,
                "digits CNN, static int8 QDQ quantization, on ONNX Runtime (1 thread)",
                [{"name": "onnx-quantize", "mode": "static"}],
                _ONE_THREAD,
            ),
            (
                "onnxruntime-remote",
                35,
                "digits CNN on ONNX Runtime behind a local `edgeai serve` over TCP (1 thread)",
                None,
                _ONE_THREAD,
            ),
        ],
        serve=["onnxruntime-remote"],
    )
    return variants + vision_demo_variants()


#: The detection and segmentation demo variants' dataset and model tables (edgeai-tvm's use the same, so the
#: demo trains each model once); `edgeai demo --task detection|segmentation` runs them.
VISION_DEMO = {
    "detector": ({"name": "shapes"}, {"name": "shapes-detector"}, "shapes detector (CenterNet-style)"),
    "segmenter": (
        {"name": "shapes-segmentation"},
        {"name": "shapes-segmenter"},
        "shapes segmenter (tiny U-Net)",
    ),
}


def vision_demo_variants() -> list[DemoVariant]:
    """``detector-onnxruntime[-int8]`` and ``segmenter-onnxruntime[-int8]``."""
    variants: list[DemoVariant] = []
    for order, (prefix, (dataset, model, what)) in enumerate(VISION_DEMO.items()):
        variants += DemoVariant.table(
            dataset,
            model,
            [
                (
                    f"{prefix}-onnxruntime",
                    60 + 10 * order,
                    f"{what} exported to ONNX, float32, on ONNX Runtime (1 thread)",
                    None,
                    _ONE_THREAD,
                ),
                (
                    f"{prefix}-onnxruntime-int8",
                    61 + 10 * order,
                    f"{what}, static int8 QDQ quantization calibrated on shapes, on ONNX Runtime (1 thread)",
                    [{"name": "onnx-quantize", "mode": "static"}],
                    _ONE_THREAD,
                ),
            ],
        )
    return variants


@hookimpl
def edgeai_register_onnx_backends() -> list[OnnxBackendRecord]:
    # the runtime component's parameters, so `edgeai onnx-backend-tests` runs sessions like a pipeline does
    (runtime,) = edgeai_register_runtimes()
    return [
        OnnxBackendRecord(
            name="onnxruntime",
            summary="ONNX Runtime sessions with the onnxruntime runtime's options (CPU provider, 1 thread)",
            factory="edgeai_onnx.backend_suite:OnnxRuntimeBackend",
            uses=("runtime:onnxruntime",),
            install="edgeai-onnx",
            modules=("onnx", "onnxruntime"),
            params=runtime.params,
        )
    ]


# Sibling components on either side of ONNX: what produces the ONNX files these components take, what
# compiles or converts them further, and the demo's dataset.
@hookimpl
def edgeai_known_components() -> list[KnownComponent]:
    return KnownComponent.catalog(
        {
            # digits for the demo; shapes for the vision demos and a user's own detector (onnx-file, task)
            "edgeai-datasets": ["dataset:digits", "dataset:shapes", "dataset:shapes-segmentation"],
            "edgeai-torch": [
                "model:digits-cnn",
                "model:mobilenetv2",
                "model:shapes-detector",
                "model:shapes-segmenter",
                "converter:torch-to-onnx",
                "runtime:torch",
                "compiler:torch-prune",
                "compiler:torch-qat",
            ],
            "edgeai-tflite": [
                "model:shapes-segmenter-keras",  # through keras-to-onnx onto ONNX Runtime
                "converter:keras-to-onnx",
                "converter:onnx-to-tflite",
                "converter:keras-to-tflite",
                "compiler:tflite",
                "runtime:tflite",
            ],
            "edgeai-tvm": ["compiler:tvm", "runtime:tvm"],
        }
    )
