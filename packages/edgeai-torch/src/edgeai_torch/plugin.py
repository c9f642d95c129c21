"""Registration of edgeai-torch's components (entry point ``torch`` in the ``edgeai`` group).

Declarations only: this module imports no torch, so listing, describing and planning stay fast. The factories
(``edgeai_torch.models``, ``.export``, ``.runtime``) import torch when a component is built.
"""

from __future__ import annotations

from typing import Any

from edgeai_core import ConverterRecord, DemoVariant, GridSuiteRecord, ModelRecord, RuntimeRecord, hookimpl
from edgeai_core.api import (
    CompilerRecord,
    KnownComponent,
    Param,
    TrainingHelp,
    mobilenet_params,
    threads_param,
    training_params,
    verify_params,
)
from edgeai_torch.steps import compiler_records, demo_rows

INSTALL = "edgeai-torch"


#: How edgeai-torch words the training parameters that depend on the framework.
TRAINING = TrainingHelp(
    "NCHW",  # layout
    "model.pt",  # checkpoint file
    weight_decay="Adam weight decay (L2 penalty)",
    logdir="write per-epoch metrics here: metrics.jsonl, plus TensorBoard events if tensorboard is installed",
    threads="torch threads while training (1: reproducible timing on small machines)",
)


#: The edgeai-datasets datasets the models here train on (named when one is missing).
TRAINS_ON = (
    "digits",
    "image-folder",
    "oxford-pets",
    "mnist",
    "synthetic",
    "shapes",
    "shapes-segmentation",
    "coco",
    "voc",
    "voc-segmentation",
)

#: Training defaults of the detector and the segmenter (about a minute each on one thread; see the README).
DETECTOR_TRAINING: dict[str, Any] = {
    "epochs": 6,
    "batch_size": 32,
    "learning_rate": 0.003,
    "channels": 3,
    "image_size": 64,
}
SEGMENTER_TRAINING: dict[str, Any] = {
    "epochs": 6,
    "batch_size": 32,
    "learning_rate": 0.01,
    "channels": 3,
    "image_size": 64,
}

#: The ONNX opset of torch-to-onnx and of the grid suites that export with it.
OPSET = Param("opset", "int", default=17, minimum=7, help="ONNX opset to export")


def _exporter(default: str, help: str) -> Param:
    return Param("exporter", "choice", default=default, choices=("torchscript", "dynamo"), help=help)


@hookimpl
def edgeai_register_models() -> list[ModelRecord]:
    digits = training_params(
        TRAINING, epochs=30, batch_size=32, learning_rate=0.003, channels=1, image_size=8
    )
    mobilenet = training_params(
        TRAINING, epochs=10, batch_size=64, learning_rate=0.003, channels=3, image_size=32
    )
    width = "width multiplier: scales every layer's channels (1.0 is the paper's network)"
    # name, factory class in edgeai_torch.models, summary, parameters
    models = (
        (
            "digits-cnn",
            "DigitsCnn",
            "Small PyTorch CNN for 8x8 digit images (2 conv, 2 linear; ~24k parameters)",
            digits,
        ),
        (
            "mobilenetv2",
            "MobileNetV2",
            "PyTorch MobileNetV2 (width multiplier, strides for small inputs), trained from scratch",
            (*mobilenet, *mobilenet_params(width, "dropout before the classifier")),
        ),
    )
    vision = (
        (
            "shapes-detector",
            "ShapesDetector",
            "detection",
            "Anchor-free CenterNet-style detector (stride-4 heatmap/size/offset heads; ~72k parameters), "
            "trains on shapes",
            DETECTOR_TRAINING,
        ),
        (
            "shapes-segmenter",
            "ShapesSegmenter",
            "segmentation",
            "Tiny U-Net (2 down, 2 up, skip connections; per-pixel logits), trains on shapes-segmentation",
            SEGMENTER_TRAINING,
        ),
    )
    width_param = Param(
        "width", "float", default=1.0, minimum=0.25, maximum=4.0, help="channel width multiplier"
    )
    return [
        ModelRecord(
            name=name,
            summary=summary,
            factory=f"edgeai_torch.models:{factory}",
            format="torch",
            tasks=("classification",),
            trainable=True,
            install=INSTALL,
            modules=("torch",),
            params=params,
        )
        for name, factory, summary, params in models
    ] + [
        ModelRecord(
            name=name,
            summary=summary,
            factory=f"edgeai_torch.models:{factory}",
            format="torch",
            tasks=(task,),
            trainable=True,
            install=INSTALL,
            modules=("torch",),
            params=(*training_params(TRAINING, **defaults), width_param),
        )
        for name, factory, task, summary, defaults in vision
    ]


@hookimpl
def edgeai_register_converters() -> list[ConverterRecord]:
    return [
        ConverterRecord(
            name="torch-to-onnx",
            summary="Export a torch checkpoint to a single-file ONNX model with a dynamic batch axis",
            factory="edgeai_torch.export:TorchToOnnx",
            input_format="torch",
            output_format="onnx",
            install="edgeai-torch[onnx]",
            modules=("torch", "onnx", "onnxscript"),
            params=(
                OPSET,
                _exporter(
                    "torchscript",
                    "torch.onnx exporter: torchscript (fast, opset as asked) or dynamo "
                    "(torch.export + onnxscript; native opset 18)",
                ),
                *verify_params(
                    "run the ONNX model in ONNX Runtime (when installed) and compare with torch",
                    "largest accepted absolute difference between ONNX Runtime and torch outputs",
                ),
            ),
        )
    ]


@hookimpl
def edgeai_register_compilers() -> list[CompilerRecord]:
    return compiler_records(OPSET)  # torch-prune, torch-qat (declared in edgeai_torch.steps)


#: The torch runtime's parameters: a host may set both per model.
RUNTIME_PARAMS = (
    threads_param("torch intra-op threads (torch.set_num_threads)"),
    Param(
        "mode",
        "choice",
        default="eager",
        choices=("eager", "traced"),
        help="eager: the nn.Module as is; traced: torch.jit.trace + freeze per input shape",
        host=True,
    ),
)


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    summary = "PyTorch on the CPU, eager or traced+frozen TorchScript"
    return [
        RuntimeRecord(
            name="torch",
            summary=summary,
            factory="edgeai_torch.runtime:TorchRuntime",
            formats=("torch",),
            install=INSTALL,
            modules=("torch",),
            params=RUNTIME_PARAMS,
        )
    ]


#: The demo's dataset and model tables: edgeai-onnx's variants use the same, so the demo trains once.
DEMO_DATASET = {"name": "digits"}
DEMO_MODEL = {"name": "digits-cnn", "epochs": 30}


@hookimpl
def edgeai_register_demo_variants() -> list[DemoVariant]:
    return DemoVariant.table(
        DEMO_DATASET,
        DEMO_MODEL,
        [
            (
                f"torch-{mode}",
                order,
                f"digits CNN, float32, PyTorch {mode}",
                None,
                {"name": "torch", "threads": 1, "mode": mode},
            )
            for mode, order in (("eager", 10), ("traced", 11))
        ]
        + demo_rows(),
    )


@hookimpl
def edgeai_register_grid_suites() -> list[GridSuiteRecord]:
    # Two suites, one per torch.onnx exporter: they differ in which models export at all (see the grid).
    return [
        GridSuiteRecord(
            name=name,
            summary=f"torch layers, blocks and models exported by torch-to-onnx's {exporter} exporter",
            factory="edgeai_torch.grid:TorchGridSuite",
            framework="torch",
            converter="torch-to-onnx",
            install="edgeai-torch[onnx]",
            modules=("torch", "onnx"),
            params=(
                OPSET,
                _exporter(exporter, "torch.onnx exporter (as the torch-to-onnx converter's parameter)"),
            ),
        )
        for name, exporter in (("torch", "torchscript"), ("torch-dynamo", "dynamo"))
    ]


# Sibling components a pipeline through these models reaches: the datasets they train on and what
# loads the ONNX files torch-to-onnx writes.
@hookimpl
def edgeai_known_components() -> list[KnownComponent]:
    return KnownComponent.catalog(
        {
            "edgeai-datasets": [*(f"dataset:{name}" for name in TRAINS_ON), "dataset:files"],
            "edgeai-onnx": [
                "runtime:onnxruntime",
                "compiler:onnx-quantize",
                "model:onnx-file",
                "analyzer:onnx",
            ],
            "edgeai-tvm": ["compiler:tvm", "runtime:tvm"],
            "edgeai-tflite": ["converter:onnx-to-tflite", "compiler:tflite", "runtime:tflite"],
        }
    )
