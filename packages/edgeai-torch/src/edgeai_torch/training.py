"""The shared trainer: seeded Adam + cross-entropy with per-epoch validation, keeping the best weights.

Reproducible by construction: ``torch.manual_seed(seed)`` before the network is built, a seeded generator for the
data order, and a fixed thread count (``threads``; the CPU kernels' reduction order depends on it). Metrics go to
``logdir/metrics.jsonl`` (always, one JSON object per epoch) and, when TensorBoard is installed, to TensorBoard
event files in the same folder.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeai_core.api import EpochBook, TrainSettings, top1_accuracy

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


@torch.inference_mode()
def accuracy(module: nn.Module, inputs: Any, targets: Any, batch: int = 256) -> float | None:
    """Top-1 accuracy in eval mode (BatchNorm running statistics, no dropout); None for an empty split."""
    was_training = module.training
    module.eval()
    try:
        return top1_accuracy(module, torch.as_tensor(inputs), torch.as_tensor(targets), batch)
    finally:
        module.train(was_training)


class TensorBoardScalars:
    """Scalars written to TensorBoard event files in ``logdir`` (the rows of ``metrics.jsonl``)."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write(self, step: int, scalars: dict[str, Any]) -> None:
        for name, value in scalars.items():
            if value is not None:
                self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        self.writer.close()


def tensorboard_scalars(logdir: Path | None) -> TensorBoardScalars | None:
    """The TensorBoard writer for ``logdir``; None without a logdir, or (warned once) without tensorboard."""
    global _tensorboard_warned
    if logdir is None:
        return None
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
        return None
    return TensorBoardScalars(SummaryWriter(log_dir=str(logdir)))


def run_epochs(
    module: nn.Module,
    arrays: dict[str, Any],
    settings: TrainSettings,
    book: EpochBook,
    *,
    batch_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
    validate: Callable[[], float | None] | None = None,
) -> None:
    """Seeded Adam over ``arrays["train"]``, every epoch handed to ``book``.

    By default the loss is cross-entropy against the train labels and the validation metric is top-1 accuracy;
    ``batch_loss(index)`` (the loss of the train samples at ``index``) and ``validate()`` replace them (the
    detector's and segmenter's dense targets). The caller seeds torch before building ``module`` (its initial
    weights are part of reproducibility).
    """
    x_train = torch.from_numpy(arrays["train"][0])
    if batch_loss is None:
        y_train = torch.from_numpy(arrays["train"][1])
        cross_entropy = nn.CrossEntropyLoss()

        def batch_loss(index: torch.Tensor) -> torch.Tensor:
            return cross_entropy(module(x_train[index]), y_train[index])

    if validate is None:
        x_val, y_val = (torch.from_numpy(a) for a in arrays["validation"])

        def validate() -> float | None:
            return accuracy(module, x_val, y_val)

    with torch_threads(settings.threads):
        generator = torch.Generator().manual_seed(settings.seed)
        optimizer = torch.optim.Adam(
            module.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        scheduler = None
        if settings.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps(len(x_train)))
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
                loss = batch_loss(index)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                total += float(loss.detach()) * len(index)
                seen += len(index)
            book.epoch_end(
                epoch,
                total / max(seen, 1),
                validate(),
                lr,
                lambda: {k: v.detach().clone() for k, v in module.state_dict().items()},
            )
