"""What the training-side optimization steps (``torch-prune``, ``torch-qat``) share: the data they fine-tune on,
the fine-tuning loop and the measurements each writes into its artifact's metadata.

Measurements (all on the step's own network and file; the core files them under ``by_step``):

* ``parameters_before`` / ``parameters_after``: parameter counts; ``nonzero_parameters``: those not exactly 0;
* ``sparsity``: the fraction of zero weights over every Conv/Linear weight, and ``layer_sparsity`` per layer;
* ``macs_before`` / ``macs_after``: multiply-accumulates of one sample through the Conv/Linear layers, dense
  (a zero weight still costs a MAC on a dense runtime, so unstructured pruning leaves this unchanged);
* ``file_bytes``, ``deflate_bytes`` (zip deflate, level 6) and ``zstd_bytes`` (only when the ``zstandard``
  package is installed): sparse weights compress, dense runtimes still load every byte uncompressed;
* ``float_test_accuracy`` / ``test_accuracy``: top-1 on the dataset's test split before and after the step,
  measured in torch (the pipeline's own evaluation measures the deployed model on the runtime).
"""

from __future__ import annotations

import importlib
import io
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Context,
    Dataset,
    EpochBook,
    Progress,
    TrainSettings,
    UsageError,
    training_splits,
)
from edgeai_torch.training import accuracy, run_epochs, torch_threads

log = logging.getLogger(__name__)

DEFLATE_LEVEL = 6


def weight_layers(module: nn.Module) -> dict[str, nn.Module]:
    """The Conv2d and Linear layers by qualified name (what the pruning and the sparsity figures cover)."""
    return {n: m for n, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def sparsity(module: nn.Module) -> tuple[float, dict[str, float]]:
    """The fraction of zero weights over all Conv/Linear weights, and per layer."""
    per: dict[str, float] = {}
    zeros = total = 0
    for name, layer in weight_layers(module).items():
        weight = layer.weight.detach()
        z = int((weight == 0).sum())
        per[name] = z / weight.numel()
        zeros += z
        total += weight.numel()
    return (zeros / total if total else 0.0), per


def parameter_counts(module: nn.Module) -> tuple[int, int]:
    """All parameters and the non-zero ones."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(int((p.detach() != 0).sum()) for p in params)


def count_macs(module: nn.Module, example: torch.Tensor) -> int:
    """Dense multiply-accumulates of Conv2d and Linear layers for one sample (``example``'s first row)."""
    total = 0

    def hook(layer: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            per_output = (layer.in_channels // layer.groups) * int(np.prod(layer.kernel_size))
            total += int(output[0].numel()) * per_output
        elif isinstance(layer, nn.Linear):
            total += int(output[0].numel()) * layer.in_features

    handles = [m.register_forward_hook(hook) for m in weight_layers(module).values()]
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            module(example[:1])
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    return total


def file_sizes(path: Path) -> dict[str, int]:
    """The file's size raw, zip-deflated and (when ``zstandard`` is installed) zstd-compressed."""
    data = path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=DEFLATE_LEVEL) as archive:
        archive.writestr(path.name, data)
    sizes = {"file_bytes": len(data), "deflate_bytes": len(buffer.getvalue())}
    try:
        zstandard = importlib.import_module("zstandard")
    except ImportError:
        return sizes
    sizes["zstd_bytes"] = len(zstandard.ZstdCompressor(level=3).compress(data))
    return sizes


class FineTuning:
    """The dataset's splits as arrays and the shared trainer (:func:`edgeai_torch.training.run_epochs`)."""

    def __init__(self, dataset: Dataset, params: dict[str, Any], seed: int, progress: Progress) -> None:
        self.arrays = training_splits(dataset)
        self.settings = TrainSettings(
            epochs=params["epochs"],
            batch_size=params["batch_size"],
            learning_rate=params["learning_rate"],
            schedule="cosine",
            seed=seed,
            threads=params["threads"],
        )
        self.progress = progress

    @property
    def example(self) -> torch.Tensor:
        return torch.from_numpy(self.arrays["train"][0][:2])

    def test_accuracy(self, module: nn.Module) -> float | None:
        with torch_threads(self.settings.threads):
            return accuracy(module, *self.arrays["test"])

    def run(self, module: nn.Module, after_step: Callable[[nn.Module], None] | None = None) -> dict[str, Any]:
        """Fine-tune ``module`` in place for the settings' epochs, keeping the best-validation weights."""
        if self.settings.epochs == 0:
            return {"finetune_epochs": 0}
        book = EpochBook(self.settings, self.progress)
        try:
            run_epochs(module, self.arrays, self.settings, book)
            book.stop()
            if book.best_weights is not None:
                module.load_state_dict(book.best_weights)
        finally:
            book.close()
        module.eval()
        return {
            "finetune_epochs": self.settings.epochs,
            "finetune_learning_rate": self.settings.learning_rate,
            "finetune_best_epoch": book.best_epoch,
            "finetune_best_validation_accuracy": book.best_accuracy,
            "finetune_time_s": book.training_time_s,
        }


def start_fine_tuning(
    step: str, artifact: Artifact, dataset: Dataset | None, params: Any, context: Context
) -> tuple[Any, FineTuning]:
    """What a fine-tuning step starts from: the torch checkpoint of ``artifact`` and the fine-tuning set-up on
    ``dataset``; one-line errors naming ``step`` for another format or no dataset."""
    from edgeai_torch import FORMAT
    from edgeai_torch.checkpoint import load_checkpoint

    if artifact.format != FORMAT:
        raise ArtifactError(f"compiler {step} takes '{FORMAT}' artifacts, not '{artifact.format}'")
    if dataset is None:
        raise UsageError(f"compiler {step} fine-tunes on a dataset; add a [dataset] table")
    if getattr(dataset, "task", "classification") not in ("classification", "any"):
        raise UsageError(
            f"compiler {step} fine-tunes classifiers (cross-entropy on class labels); dataset {dataset.name} is a "
            f"{dataset.task} dataset: use onnx-quantize for a detector or segmenter"
        )
    checkpoint = load_checkpoint(artifact.path)
    return checkpoint, FineTuning(dataset, params, context.seed, context.progress)
