"""The shared trainer: seeded Adam + cross-entropy with per-epoch validation, keeping the best weights.

Reproducible by construction: ``torch.manual_seed(seed)`` before the network is built, a seeded generator for the
data order, and a fixed thread count (``threads``; the CPU kernels' reduction order depends on it). Metrics go to
``logdir/metrics.jsonl`` (always, one JSON object per epoch) and, when TensorBoard is installed, to TensorBoard
event files in the same folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeai_core.api import Dataset, DatasetError, EdgeaiError, NullProgress, Progress

log = logging.getLogger(__name__)

_tensorboard_warned = False


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` intra-op threads, restoring the previous count afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0
    schedule: str = "cosine"
    seed: int = 0
    threads: int = 1
    logdir: Path | None = None


@dataclass
class TrainResult:
    """What training measured; the module holds the best-validation weights when it is returned."""

    epochs: int
    final_train_loss: float
    best_validation_accuracy: float | None
    best_epoch: int
    test_accuracy: float | None
    training_time_s: float
    history: list[dict[str, Any]] = field(default_factory=list)


def split_tensors(dataset: Dataset, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A split as float32 inputs and int64 targets; an empty split gives empty tensors."""
    split = dataset.split(name)
    inputs = torch.from_numpy(np.ascontiguousarray(split.inputs, dtype=np.float32))
    targets = torch.from_numpy(np.asarray(split.targets).astype(np.int64, copy=False))
    return inputs, targets


@torch.inference_mode()
def accuracy(
    module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch: int = 256
) -> float | None:
    """Top-1 accuracy in eval mode (BatchNorm running statistics, no dropout); None for an empty split."""
    if len(inputs) == 0:
        return None
    was_training = module.training
    module.eval()
    correct = 0
    for start in range(0, len(inputs), batch):
        logits = module(inputs[start : start + batch])
        correct += int((logits.argmax(dim=1) == targets[start : start + batch]).sum())
    module.train(was_training)
    return correct / len(inputs)


class MetricsLog:
    """``metrics.jsonl`` plus, where TensorBoard is installed, event files (both in ``logdir``)."""

    def __init__(self, logdir: Path | None) -> None:
        self.logdir = logdir
        self._jsonl: Any = None
        self._writer: Any = None
        if logdir is None:
            return
        global _tensorboard_warned
        logdir.mkdir(parents=True, exist_ok=True)
        self._jsonl = (logdir / "metrics.jsonl").open("w", encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            if not _tensorboard_warned:
                log.warning(
                    "tensorboard is not installed, so %s gets metrics.jsonl only; "
                    "pip install 'edgeai-torch[tensorboard]' for TensorBoard logs",
                    logdir,
                )
                _tensorboard_warned = True
        else:
            self._writer = SummaryWriter(log_dir=str(logdir))

    def write(self, step: int, scalars: dict[str, float | None]) -> None:
        if self._jsonl is None:
            return
        self._jsonl.write(json.dumps({"epoch": step, **scalars}) + "\n")
        self._jsonl.flush()
        if self._writer is not None:
            for name, value in scalars.items():
                if value is not None:
                    self._writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self._writer is not None:
            self._writer.close()


def train_classifier(
    module: nn.Module,
    dataset: Dataset,
    settings: TrainSettings,
    progress: Progress | None = None,
    check_inputs: Callable[[torch.Tensor], None] | None = None,
) -> TrainResult:
    """Train ``module`` on the dataset's train split and leave it holding the best-validation weights.

    The caller seeds torch before building ``module`` (its initial weights are part of reproducibility).
    ``check_inputs`` may reject a train split whose shape the network cannot take, before any work is done.
    """
    progress = progress or NullProgress()
    x_train, y_train = split_tensors(dataset, "train")
    if len(x_train) == 0:
        raise DatasetError(f"dataset {dataset.name} has an empty train split; nothing to train on")
    if check_inputs is not None:
        check_inputs(x_train)
    x_val, y_val = split_tensors(dataset, "validation")
    x_test, y_test = split_tensors(dataset, "test")
    if len(x_val) == 0:
        log.warning("dataset %s has no validation split: keeping the weights of the last epoch", dataset.name)

    with torch_threads(settings.threads):
        generator = torch.Generator().manual_seed(settings.seed)
        optimizer = torch.optim.Adam(
            module.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        steps_per_epoch = math.ceil(len(x_train) / settings.batch_size)
        scheduler = None
        if settings.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, settings.epochs * steps_per_epoch
            )
        loss_fn = nn.CrossEntropyLoss()
        metrics = MetricsLog(settings.logdir)
        best_state: dict[str, torch.Tensor] | None = None
        best_acc: float | None = None
        best_epoch = settings.epochs
        loss_value = float("nan")
        history: list[dict[str, Any]] = []
        started = time.perf_counter()
        try:
            for epoch in range(1, settings.epochs + 1):
                module.train()
                order = torch.randperm(len(x_train), generator=generator)
                total, seen = 0.0, 0
                lr = optimizer.param_groups[0]["lr"]
                for start in range(0, len(x_train), settings.batch_size):
                    index = order[start : start + settings.batch_size]
                    if len(index) == 1 and start > 0:
                        continue  # a batch of one breaks BatchNorm; its sample comes back next epoch
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(module(x_train[index]), y_train[index])
                    loss.backward()
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                    total += float(loss.detach()) * len(index)
                    seen += len(index)
                loss_value = total / max(seen, 1)
                if not math.isfinite(loss_value):
                    raise EdgeaiError(
                        f"training diverged at epoch {epoch} (loss {loss_value}); "
                        "lower model.learning_rate or check the dataset's normalization"
                    )
                val_acc = accuracy(module, x_val, y_val)
                # ties go to the later epoch: same accuracy, lower training loss
                if val_acc is None or best_acc is None or val_acc >= best_acc:
                    best_acc, best_epoch = val_acc, epoch
                    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                row = {
                    "train/loss": loss_value,
                    "validation/accuracy": val_acc,
                    "train/learning_rate": lr,
                    "time_s": time.perf_counter() - started,
                }
                history.append({"epoch": epoch, **row})
                metrics.write(epoch, row)
                shown = "n/a" if val_acc is None else f"{val_acc:.4f}"
                progress.update(
                    epoch, settings.epochs, f"epoch {epoch} loss {loss_value:.4f} val_acc {shown}"
                )
            training_time = time.perf_counter() - started
            if best_state is not None:
                module.load_state_dict(best_state)
            module.eval()
            test_acc = accuracy(module, x_test, y_test)
            metrics.write(
                settings.epochs,
                {
                    "test/accuracy": test_acc,
                    "validation/best_accuracy": best_acc,
                    "validation/best_epoch": best_epoch,
                },
            )
        finally:
            metrics.close()
    return TrainResult(
        epochs=settings.epochs,
        final_train_loss=loss_value,
        best_validation_accuracy=best_acc,
        best_epoch=best_epoch,
        test_accuracy=test_acc,
        training_time_s=training_time,
        history=history,
    )
