"""Parameter declarations that several plugins share: trainable image classifiers, verified conversions.

Light on purpose (only :mod:`edgeai_core.params`): registration modules import it. The defaults differ per
model and a framework words a few help texts its own way (:class:`TrainingHelp`); everything else is the same
for every framework, so ``edgeai describe`` shows the twins' parameters alike. The trainer side is
:mod:`edgeai_core.training`.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeai_core.params import Param


@dataclass(frozen=True)
class TrainingHelp:
    """A framework's words for the parameters whose meaning depends on it."""

    #: the network's input layout (NCHW, NHWC), named in the help of ``channels``
    layout: str
    #: the checkpoint file ``edgeai train`` writes (``model.pt``), named in the help of ``checkpoint``
    checkpoint_file: str
    weight_decay: str
    logdir: str
    threads: str


def training_params(
    words: TrainingHelp, *, epochs: int, batch_size: int, learning_rate: float, channels: int, image_size: int
) -> tuple[Param, ...]:
    """Parameters of a trainable classifier, with a model's defaults and its framework's ``words``."""
    return (
        Param("epochs", "int", default=epochs, minimum=1, help="training epochs"),
        Param("batch_size", "int", default=batch_size, minimum=1, help="training batch size"),
        Param("learning_rate", "float", default=learning_rate, minimum=0.0, help="Adam learning rate"),
        Param("weight_decay", "float", default=0.0, minimum=0.0, help=words.weight_decay),
        Param(
            "schedule",
            "choice",
            default="cosine",
            choices=("cosine", "constant"),
            help="learning rate schedule: cosine decay to 0 over all steps, or constant",
        ),
        Param("channels", "int", default=channels, minimum=1, help=f"input channels ({words.layout})"),
        Param("image_size", "int", default=image_size, minimum=4, help="input height and width in pixels"),
        Param(
            "classes",
            "int",
            default=None,
            minimum=2,
            help="output classes (default: the number of the dataset's class names)",
        ),
        Param(
            "checkpoint",
            "path",
            default=None,
            help=f"load this {words.checkpoint_file} (written by edgeai train) instead of training",
        ),
        Param("logdir", "path", default=None, help=words.logdir),
        Param("threads", "int", default=1, minimum=1, help=words.threads),
    )


def mobilenet_params(width_help: str, dropout_help: str) -> tuple[Param, ...]:
    """MobileNet's width multiplier and the dropout before its classifier."""
    return (
        Param("width", "float", default=0.5, minimum=0.1, maximum=4.0, help=width_help),
        Param("dropout", "float", default=0.2, minimum=0.0, maximum=0.9, help=dropout_help),
    )


def threads_param(help: str, *, minimum: int = 1) -> Param:
    """A runtime's ``threads`` (default 1): a thread count, which a host may set per model (``host=True``)."""
    return Param("threads", "int", default=1, minimum=minimum, help=help, host=True)


def verify_params(verify_help: str, tolerance_help: str) -> tuple[Param, ...]:
    """``verify`` (run the converted model and compare it with its source) and its ``tolerance``."""
    return (
        Param("verify", "bool", default=True, help=verify_help),
        Param("tolerance", "float", default=1e-4, minimum=0.0, help=tolerance_help),
    )


#: the tasks a user's own model file may declare (``any`` is what an undeclared one serves)
MODEL_FILE_TASKS = ("classification", "detection", "segmentation")


def task_params() -> tuple[Param, ...]:
    """``task`` and ``postprocess`` of a user's own model file (``onnx-file``, ``tflite-file``, ``keras-file``).

    The checks live in :func:`edgeai_core.tasks.declared_task`; the README's "Bringing your own detection or
    segmentation model" section documents the output layouts.
    """
    return (
        Param(
            "task",
            "choice",
            default=None,
            choices=MODEL_FILE_TASKS,
            help="what the model does; the dataset's task must be the same (default: whatever the dataset's "
            "task is; detection and segmentation read the outputs as postprocess says)",
        ),
        Param(
            "postprocess",
            "dict",
            default=None,
            help="detection/segmentation: how the outputs read, e.g. {kind = 'boxes', boxes = 0, scores = 1, "
            "labels = 2}, {kind = 'centernet', heatmap = 0, size = 1, offset = 2, stride = 4} or "
            "{kind = 'segmentation', output = 0, layout = 'NHWC'}; checked against the file's outputs",
        ),
    )
