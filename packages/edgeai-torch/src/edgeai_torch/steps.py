"""Declarations of the training-side optimization steps (``torch-prune``, ``torch-qat``) and their demo variants.

Like :mod:`edgeai_torch.plugin`, this module imports no torch: the factories (:mod:`edgeai_torch.prune`,
:mod:`edgeai_torch.qat`) do when a step is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeai_core.api import CompilerRecord, Param


def _finetune(epochs: int, learning_rate: float) -> tuple[Param, ...]:
    return (
        Param(
            "epochs", "int", default=epochs, minimum=0, help="fine-tuning epochs on the train split (0: none)"
        ),
        Param(
            "learning_rate",
            "float",
            default=learning_rate,
            minimum=0.0,
            help="Adam learning rate of the fine-tuning (cosine schedule)",
        ),
        Param("batch_size", "int", default=32, minimum=1, help="fine-tuning batch size"),
        Param("threads", "int", default=1, minimum=1, help="torch threads while fine-tuning"),
    )


def compiler_records(opset: Param) -> list[CompilerRecord]:
    """``torch-prune`` and ``torch-qat``; ``opset`` is torch-to-onnx's parameter (the QDQ export's opset)."""
    return [
        CompilerRecord(
            name="torch-prune",
            summary="Magnitude pruning of a torch model (unstructured sparsity or structured channel removal), "
            "fine-tuned on the dataset",
            factory="edgeai_torch.prune:TorchPrune",
            input_formats=("torch",),
            output_format="torch",
            needs_dataset=True,
            install="edgeai-torch",
            params=(
                Param(
                    "method",
                    "choice",
                    default="unstructured",
                    choices=("unstructured", "structured"),
                    help="unstructured: zero the smallest weights (same shapes, no speed-up on dense "
                    "runtimes); structured: remove whole output channels and rewire the following layers",
                ),
                Param(
                    "sparsity",
                    "float",
                    default=0.8,
                    minimum=0.0,
                    maximum=0.99,
                    help="unstructured: fraction of Conv/Linear weights set to zero",
                ),
                Param(
                    "scope",
                    "choice",
                    default="global",
                    choices=("global", "layer"),
                    help="unstructured: one magnitude threshold over all layers, or the same sparsity per layer",
                ),
                Param(
                    "ratio",
                    "float",
                    default=0.5,
                    minimum=0.0,
                    maximum=0.95,
                    help="structured: fraction of the channels of each prunable channel group removed",
                ),
                Param(
                    "norm",
                    "choice",
                    default="l1",
                    choices=("l1", "l2"),
                    help="structured: filter norm ranking the channels (smallest removed)",
                ),
                *_finetune(5, 0.001),
            ),
        ),
        CompilerRecord(
            name="torch-qat",
            summary="Quantization-aware fine-tuning (int8 fake quantization, torch FX QAT), exported to ONNX QDQ",
            factory="edgeai_torch.qat:TorchQat",
            input_formats=("torch",),
            output_format="onnx",
            needs_dataset=True,
            install="edgeai-torch[onnx]",
            params=(
                Param(
                    "activation_symmetric",
                    "bool",
                    default=False,
                    help="activations with a fixed mid-range zero point (as onnx-quantize's ActivationSymmetric); "
                    "default asymmetric like onnx-quantize's static mode; weights are always int8 symmetric "
                    "per channel",
                ),
                opset,
                *_finetune(5, 0.0003),
            ),
        ),
    ]


_ONE_THREAD = {"name": "onnxruntime", "threads": 1}


def demo_rows() -> list[tuple[str, int, str, Sequence[Mapping[str, Any]] | None, Mapping[str, Any]]]:
    """The demo variants of the optimization steps (rows of :meth:`DemoVariant.table`)."""
    return [
        (
            "torch-pruned-structured",
            36,
            "digits CNN, 50% of channels removed (L1 filter norm) and fine-tuned, on ONNX Runtime (1 thread)",
            [{"name": "torch-prune", "method": "structured", "ratio": 0.5}],
            _ONE_THREAD,
        ),
        (
            "torch-pruned-unstructured",
            37,
            "digits CNN, 80% of weights zeroed (global L1 magnitude) and fine-tuned, on ONNX Runtime (1 thread)",
            [{"name": "torch-prune", "method": "unstructured", "sparsity": 0.8}],
            _ONE_THREAD,
        ),
        (
            "torch-qat-int8",
            38,
            "digits CNN, int8 quantization-aware fine-tuning, QDQ on ONNX Runtime (1 thread)",
            [{"name": "torch-qat"}],
            _ONE_THREAD,
        ),
    ]
