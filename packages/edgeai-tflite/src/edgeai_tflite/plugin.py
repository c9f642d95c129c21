"""Registration of edgeai-tflite's components (entry point ``tflite`` in the ``edgeai`` group).

Declarations only: this module imports neither TensorFlow nor an interpreter, so listing, describing and planning
stay fast. The factories named here import what they need when a component is built: the runtime and the
``tflite-file`` model only an interpreter package (``ai-edge-litert``), everything else TensorFlow.
"""

from __future__ import annotations

from edgeai_core import (
    REQUIRED,
    CompilerRecord,
    ConverterRecord,
    DemoVariant,
    GridSuiteRecord,
    ModelRecord,
    Param,
    RuntimeRecord,
    hookimpl,
)
from edgeai_core.api import (
    KnownComponent,
    TrainingHelp,
    mobilenet_params,
    task_params,
    threads_param,
    training_params,
    verify_params,
)

#: What a target device installs: the runtime and ``tflite-file`` need nothing more.
INSTALL = "edgeai-tflite"
#: The host side: TensorFlow (Keras, the TFLite converter) and tf2onnx.
INSTALL_COMPILE = "edgeai-tflite[compile]"

IO_TYPES = ("float32", "int8", "uint8")
MODES = ("float32", "float16", "dynamic", "int8")
INTERPRETERS = ("auto", "ai-edge-litert", "tflite-runtime", "tensorflow")


#: Default epochs of shapes-segmenter-keras (about a minute on two cores; see the README's numbers).
SEGMENTER_EPOCHS = 10

#: How edgeai-tflite words the training parameters that depend on the framework.
TRAINING = TrainingHelp(
    layout="NHWC",
    checkpoint_file="model.keras",
    weight_decay="decoupled weight decay of Keras' Adam (0: none)",
    logdir="write per-epoch metrics here: metrics.jsonl and TensorBoard events",
    threads="TensorFlow intra-op threads while training (applies when TensorFlow starts in this process)",
)


def _input_params() -> tuple[Param, ...]:
    """Layout and normalization of a user's own model file."""
    return (
        Param(
            "layout",
            "choice",
            default=None,
            choices=("NHWC", "NCHW"),
            help="layout of the first input (default: NHWC, TensorFlow's, for 4-d inputs); sets the "
            "normalization axis",
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
    )


def _verify_params(what: str) -> tuple[Param, ...]:
    return verify_params(
        f"run the result on seeded inputs and compare it with {what}",
        "largest accepted absolute output difference of a float conversion",
    )


_KEEP_NCHW = Param(
    "keep_nchw",
    "bool",
    default=False,
    help="ONNX sources only: keep the NCHW input of the ONNX model (onnx2tf adds a transpose) instead of NHWC",
)


@hookimpl
def edgeai_register_models() -> list[ModelRecord]:
    return [
        ModelRecord(
            name="digits-cnn-keras",
            summary="Keras twin of digits-cnn for 8x8 digit images (NHWC; 2 conv, 2 dense; ~24k parameters)",
            factory="edgeai_tflite.models:DigitsCnnKeras",
            format="keras",
            tasks=("classification",),
            trainable=True,
            install=INSTALL_COMPILE,
            modules=("tensorflow",),
            params=training_params(
                TRAINING, epochs=30, batch_size=32, learning_rate=0.003, channels=1, image_size=8
            ),
        ),
        ModelRecord(
            name="mobilenetv2-keras",
            summary="Keras MobileNetV2 (NHWC; width multiplier, strides for small inputs), trained from scratch",
            factory="edgeai_tflite.models:MobileNetV2Keras",
            format="keras",
            tasks=("classification",),
            trainable=True,
            install=INSTALL_COMPILE,
            modules=("tensorflow",),
            params=(
                *training_params(
                    TRAINING, epochs=10, batch_size=64, learning_rate=0.003, channels=3, image_size=32
                ),
                *mobilenet_params(
                    "width multiplier (alpha): scales every layer's channels (1.0 is the paper's network)",
                    "dropout before the classifier (implementation edgeai)",
                ),
                Param(
                    "implementation",
                    "choice",
                    default="edgeai",
                    choices=("edgeai", "keras-applications"),
                    help="edgeai: the twin of edgeai-torch's mobilenetv2 (strides cut for small inputs); "
                    "keras-applications: keras.applications.MobileNetV2(weights=None), inputs >= 32x32",
                ),
            ),
        ),
        ModelRecord(
            name="shapes-segmenter-keras",
            summary="Keras twin of shapes-segmenter: tiny U-Net for shapes-segmentation (NHWC; per-pixel logits)",
            factory="edgeai_tflite.models:ShapesSegmenterKeras",
            format="keras",
            tasks=("segmentation",),
            trainable=True,
            install=INSTALL_COMPILE,
            modules=("tensorflow",),
            params=(
                *training_params(
                    TRAINING,
                    epochs=SEGMENTER_EPOCHS,
                    batch_size=32,
                    learning_rate=0.01,
                    channels=3,
                    image_size=64,
                ),
                Param(
                    "width",
                    "float",
                    default=1.0,
                    minimum=0.25,
                    maximum=4.0,
                    help="channel width multiplier (8/24/48 channels at 1.0, as edgeai-torch's shapes-segmenter)",
                ),
            ),
        ),
        ModelRecord(
            name="keras-file",
            summary="Your own Keras model file (.keras, or legacy .h5), loaded without running its code",
            factory="edgeai_tflite.models:KerasFile",
            format="keras",
            tasks=("any",),
            trainable=False,
            loads=(".keras", ".h5"),
            install=INSTALL_COMPILE,
            modules=("tensorflow",),
            params=(
                Param("path", "path", default=REQUIRED, help="the .keras (or .h5) file to load"),
                *_input_params(),
                Param(
                    "safe_mode",
                    "bool",
                    default=True,
                    help="refuse models whose Lambda layers would run code stored in the file",
                ),
                *task_params(),
            ),
        ),
        ModelRecord(
            name="savedmodel-dir",
            summary="Your own TensorFlow SavedModel directory (one signature is used)",
            factory="edgeai_tflite.models:SavedModelDir",
            format="savedmodel",
            tasks=("any",),
            trainable=False,
            install=INSTALL_COMPILE,
            modules=("tensorflow",),
            params=(
                Param(
                    "path", "path", default=REQUIRED, help="the SavedModel directory (with saved_model.pb)"
                ),
                Param(
                    "signature",
                    "str",
                    default="serving_default",
                    help="the signature whose inputs and outputs become the model's",
                ),
                *_input_params(),
            ),
        ),
        ModelRecord(
            name="tflite-file",
            summary="Your own .tflite model (IO spec and quantization read with the interpreter; no TensorFlow)",
            factory="edgeai_tflite.files:TfliteFile",
            format="tflite",
            tasks=("any",),
            trainable=False,
            loads=(".tflite",),
            install=INSTALL,
            params=(
                Param("path", "path", default=REQUIRED, help="the .tflite file to load"),
                *_input_params(),
                *task_params(),
            ),
        ),
    ]


@hookimpl
def edgeai_register_compilers() -> list[CompilerRecord]:
    return [
        CompilerRecord(
            name="tflite",
            summary="TensorFlow Lite converter: float32, float16, dynamic-range int8 or full int8 (Edge TPU)",
            factory="edgeai_tflite.compiler:TfliteCompiler",
            input_formats=("keras", "savedmodel", "onnx"),
            output_format="tflite",
            needs_dataset=True,
            install=INSTALL_COMPILE,
            modules=("tensorflow",),
            needs=("onnx:onnx2tf",),
            params=(
                Param(
                    "mode",
                    "choice",
                    default="float32",
                    choices=MODES,
                    help="float32: plain conversion; float16: half-precision weights; dynamic: int8 weights, "
                    "activations quantized at run time; int8: full integer, calibrated on the dataset",
                ),
                Param(
                    "inference_input_type",
                    "choice",
                    default="float32",
                    choices=IO_TYPES,
                    help="type of the model's inputs; int8 and uint8 need mode int8 (the scale and zero "
                    "point land in the IO spec)",
                ),
                Param(
                    "inference_output_type",
                    "choice",
                    default="float32",
                    choices=IO_TYPES,
                    help="type of the model's outputs; int8 and uint8 need mode int8",
                ),
                Param(
                    "target",
                    "choice",
                    default="default",
                    choices=("default", "edgetpu"),
                    help="edgetpu: integer-only operators and a static batch of 1, then the Edge TPU "
                    "compiler where it is installed",
                ),
                Param(
                    "calibration_samples",
                    "int",
                    default=200,
                    minimum=1,
                    help="training samples fed (one at a time) to calibrate mode int8",
                ),
                Param(
                    "batch_size",
                    "int",
                    default=None,
                    minimum=1,
                    help="fix the batch dimension (default: dynamic where the source allows; 1 for edgetpu)",
                ),
                Param(
                    "signature",
                    "str",
                    default="serving_default",
                    help="SavedModel sources: the signature to convert",
                ),
                _KEEP_NCHW,
                Param(
                    "edgetpu_compiler",
                    "str",
                    default="edgetpu_compiler",
                    help="target edgetpu: the Edge TPU compiler command, run when it is found on PATH",
                ),
                *_verify_params("the source model"),
            ),
        )
    ]


@hookimpl
def edgeai_register_converters() -> list[ConverterRecord]:
    return [
        ConverterRecord(
            name="keras-to-tflite",
            summary="Convert a Keras model to a float32 .tflite (the tflite compiler's float32 mode)",
            factory="edgeai_tflite.compiler:KerasToTflite",
            input_format="keras",
            output_format="tflite",
            install=INSTALL_COMPILE,
            modules=("tensorflow",),
            params=_verify_params("the Keras model"),
        ),
        ConverterRecord(
            name="onnx-to-tflite",
            summary="Convert an ONNX model to a float32 NHWC .tflite through onnx2tf (installed separately)",
            factory="edgeai_tflite.compiler:OnnxToTflite",
            input_format="onnx",
            output_format="tflite",
            install=INSTALL_COMPILE,
            modules=("tensorflow", "onnx"),
            needs=("onnx2tf",),
            params=(_KEEP_NCHW, *_verify_params("the ONNX model (with onnxruntime)")),
        ),
        ConverterRecord(
            name="keras-to-onnx",
            summary="Export a Keras model to ONNX with tf2onnx through a SavedModel (checked with ONNX Runtime)",
            factory="edgeai_tflite.onnx_export:KerasToOnnx",
            input_format="keras",
            output_format="onnx",
            install=INSTALL_COMPILE,
            modules=("tensorflow", "tf2onnx"),
            params=(
                Param("opset", "int", default=17, minimum=9, help="ONNX opset to export"),
                Param(
                    "layout",
                    "choice",
                    default="NHWC",
                    choices=("NHWC", "NCHW"),
                    help="input layout of the ONNX model: NHWC as in Keras, or NCHW (tf2onnx adds a transpose)",
                ),
                *_verify_params("the Keras model (when onnxruntime is installed)"),
            ),
        ),
    ]


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    return [
        RuntimeRecord(
            name="tflite",
            summary="TensorFlow Lite interpreter (LiteRT; tflite-runtime or TensorFlow as fallbacks), delegates",
            factory="edgeai_tflite.runtime:TfliteRuntime",
            formats=("tflite",),
            install=INSTALL,
            params=(
                threads_param("interpreter threads (num_threads)"),
                Param(
                    "delegates",
                    "list[str]",
                    default=None,
                    help="delegate libraries to load, in order (e.g. libedgetpu.so.1); each must be loadable",
                ),
                Param(
                    "delegate_options",
                    "dict",
                    default=None,
                    help="options passed to every delegate's load_delegate (e.g. {device = 'usb'})",
                ),
                Param(
                    "xnnpack",
                    "bool",
                    default=True,
                    help="apply the interpreter's default XNNPACK delegate (false: built-in kernels only)",
                    host=True,
                ),
                Param(
                    "interpreter",
                    "choice",
                    default="auto",
                    choices=INTERPRETERS,
                    help="interpreter package; auto tries ai-edge-litert, then tflite-runtime, then tensorflow",
                ),
            ),
        )
    ]


#: The demo's dataset and model tables: both TFLite variants use exactly these, so the demo trains once.
DEMO_DATASET = {"name": "digits", "layout": "NHWC"}
DEMO_MODEL = {"name": "digits-cnn-keras", "epochs": 30}
#: The segmentation variants' tables (channels-last images for the Keras U-Net).
SEGMENTER_DATASET = {"name": "shapes-segmentation", "layout": "NHWC"}
SEGMENTER_MODEL = {"name": "shapes-segmenter-keras", "epochs": SEGMENTER_EPOCHS}


@hookimpl
def edgeai_register_demo_variants() -> list[DemoVariant]:
    runtime = {"name": "tflite", "threads": 1}
    int8 = {"name": "tflite", "mode": "int8", "inference_input_type": "int8", "inference_output_type": "int8"}
    return [
        *DemoVariant.table(
            DEMO_DATASET,
            DEMO_MODEL,
            [
                (
                    "tflite-float",
                    40,
                    "Keras twin of the digits CNN converted to float32 TFLite, on LiteRT (1 thread)",
                    [{"name": "tflite", "mode": "float32"}],
                    runtime,
                ),
                (
                    "tflite-int8",
                    41,
                    "Keras digits CNN, full int8 TFLite with int8 inputs and outputs, on LiteRT (1 thread)",
                    [int8],
                    runtime,
                ),
            ],
        ),
        *DemoVariant.table(
            SEGMENTER_DATASET,
            SEGMENTER_MODEL,
            [
                (
                    "segmenter-tflite",
                    45,
                    "Keras tiny U-Net on shapes-segmentation, float32 TFLite, on LiteRT (1 thread; mIoU)",
                    [{"name": "tflite", "mode": "float32"}],
                    runtime,
                ),
                (
                    "segmenter-tflite-int8",
                    46,
                    "Keras tiny U-Net, full int8 TFLite (float inputs and outputs), on LiteRT (1 thread; mIoU)",
                    [{"name": "tflite", "mode": "int8"}],
                    runtime,
                ),
            ],
        ),
    ]


@hookimpl
def edgeai_register_grid_suites() -> list[GridSuiteRecord]:
    # `edgeai grid`: Keras layers, blocks and this package's models through keras-to-onnx
    return [
        GridSuiteRecord(
            name="keras",
            summary="Keras layers, blocks and models exported by the keras-to-onnx converter (tf2onnx)",
            factory="edgeai_tflite.grid:KerasGridSuite",
            framework="keras",
            converter="keras-to-onnx",
            install=INSTALL_COMPILE,
            modules=("tensorflow",),
            params=(Param("opset", "int", default=17, minimum=9, help="ONNX opset to export"),),
        )
    ]


# Sibling components a pipeline through these components reaches: the datasets the Keras models train on
# and the ONNX side of the converters.
@hookimpl
def edgeai_known_components() -> list[KnownComponent]:
    return KnownComponent.catalog(
        {
            "edgeai-datasets": [
                f"dataset:{name}"
                for name in (
                    "digits",
                    "image-folder",
                    "oxford-pets",
                    "mnist",
                    "synthetic",
                    "files",
                    "shapes-segmentation",
                )
            ],
            "edgeai-onnx": [
                "runtime:onnxruntime",
                "compiler:onnx-quantize",
                "model:onnx-file",
                "analyzer:onnx",
            ],
            "edgeai-torch": ["converter:torch-to-onnx"],
            "edgeai-tvm": ["compiler:tvm", "runtime:tvm"],
        }
    )
