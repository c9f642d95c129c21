"""The ``torch-prune`` compiler: magnitude pruning of a ``torch`` checkpoint, then fine-tuning on the dataset.

* ``method = "unstructured"``: :mod:`torch.nn.utils.prune`'s L1 magnitude pruning of every Conv2d/Linear
  weight, either ``scope = "global"`` (one threshold over all layers: :func:`~torch.nn.utils.prune.
  global_unstructured`) or ``"layer"`` (the same ``sparsity`` in each layer). The masks stay on while
  fine-tuning and are made permanent (:func:`~torch.nn.utils.prune.remove`) before saving: the checkpoint
  holds dense tensors with zeros, which compress but run no faster on a dense runtime.
* ``method = "structured"``: output channels are removed by filter norm (``norm`` = l1 or l2, ``ratio`` of
  each prunable channel group) and the layers that read them are rewired (:mod:`edgeai_torch.surgery`): the
  network is smaller, so it needs fewer MACs on any runtime.

The output is a ``torch`` checkpoint of the same architecture (a structured one is marked ``resized``), so the
torch runtime runs it and ``torch-to-onnx`` exports it. What the step measured is listed in
:mod:`edgeai_torch.optimize`; it goes into the artifact's metadata under ``pruning``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from edgeai_core.api import Artifact, Compiler, Dataset
from edgeai_torch import FORMAT
from edgeai_torch.checkpoint import Checkpoint, save_checkpoint
from edgeai_torch.nets import build
from edgeai_torch.optimize import (
    count_macs,
    file_sizes,
    parameter_counts,
    sparsity,
    start_fine_tuning,
    weight_layers,
)
from edgeai_torch.surgery import prune_structured
from edgeai_torch.training import torch_threads

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "model.pt"


def prune_unstructured(module: nn.Module, amount: float, scope: str) -> None:
    """L1 magnitude pruning of every Conv2d/Linear weight, masks left on (:func:`finish_unstructured`)."""
    targets = [(layer, "weight") for layer in weight_layers(module).values()]
    if scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    else:
        for layer, name in targets:
            prune.l1_unstructured(layer, name, amount=amount)


def finish_unstructured(module: nn.Module) -> None:
    """Make the masks permanent: plain ``weight`` tensors with zeros, no ``weight_orig``/``weight_mask``."""
    for layer in weight_layers(module).values():
        if prune.is_pruned(layer):
            prune.remove(layer, "weight")


def _resized(module: nn.Module, checkpoint: Checkpoint) -> bool:
    """Whether ``module``'s weights differ in shape from its architecture's (channels were removed, by this
    step or an earlier one): the checkpoint then says so, for the loader to resize the rebuilt layers."""
    fresh = build(checkpoint.architecture, checkpoint.params).state_dict()
    return any(tuple(fresh[k].shape) != tuple(v.shape) for k, v in module.state_dict().items() if k in fresh)


class TorchPrune(Compiler):
    """Prunes, fine-tunes and measures; see the module docstring."""

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}

    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        p = self.params
        checkpoint, tuning = start_fine_tuning("torch-prune", artifact, dataset, p, self.context)
        module = checkpoint.module
        example = tuning.example
        started = time.perf_counter()
        with torch_threads(p["threads"]):
            before_params, _ = parameter_counts(module)
            macs_before = count_macs(module, example)
            float_accuracy = tuning.test_accuracy(module)
            info: dict[str, Any] = {"method": p["method"]}
            torch.manual_seed(self.context.seed)
            if p["method"] == "unstructured":
                prune_unstructured(module, p["sparsity"], p["scope"])
                info.update(target_sparsity=p["sparsity"], scope=p["scope"])
                info["pruned_accuracy"] = tuning.test_accuracy(module)
                info.update(tuning.run(module))
                finish_unstructured(module)
            else:
                groups = prune_structured(module, example, p["ratio"], p["norm"])
                info.update(target_ratio=p["ratio"], norm=p["norm"])
                info["channels"] = {
                    ",".join(g.producers): {"before": g.channels, "removed": len(g.pruned)}
                    for g in groups
                    if g.producers and not g.frozen
                }
                info["kept_groups"] = {
                    ",".join(g.producers): g.frozen for g in groups if g.producers and g.frozen
                }
                info["pruned_accuracy"] = tuning.test_accuracy(module)
                info.update(tuning.run(module))
            module.eval()
            total, per_layer = sparsity(module)
            after_params, nonzero = parameter_counts(module)
            info.update(
                sparsity=total,
                layer_sparsity=per_layer,
                parameters_before=before_params,
                parameters_after=after_params,
                nonzero_parameters=nonzero,
                macs_before=macs_before,
                macs_after=count_macs(module, example),
                float_test_accuracy=float_accuracy,
                test_accuracy=tuning.test_accuracy(module),
            )
        path = self.context.workdir / CHECKPOINT_NAME
        save_checkpoint(
            path, checkpoint.architecture, checkpoint.params, module, resized=_resized(module, checkpoint)
        )
        info.update(file_sizes(path))
        info["time_s"] = time.perf_counter() - started
        log.info(
            "torch-prune %s: sparsity %.3f, %d -> %d parameters, %d -> %d MACs, test accuracy %s -> %s",
            p["method"],
            info["sparsity"],
            before_params,
            after_params,
            macs_before,
            info["macs_after"],
            float_accuracy,
            info["test_accuracy"],
        )
        metadata = {**artifact.metadata, "pruning": info, "parameter_count": after_params}
        return self.save_artifact(path, FORMAT, artifact.io, metadata)
