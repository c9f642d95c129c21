"""Small helpers shared by the runtime and compile sides; they import neither TensorFlow nor an interpreter."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from edgeai_core.artifacts import IOSpec, TensorSpec
from edgeai_core.errors import ParameterError

MAX_MESSAGE = 300


def condense(message: object, limit: int = MAX_MESSAGE) -> str:
    """One line from a framework's (often multi-line) error message, for errors that must stay one line."""
    text = " ".join(str(message).split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text or "(no message)"


def shape_text(shape: Sequence[object]) -> str:
    """``(None, 8, 8, 1)`` shown as ``(?, 8, 8, 1)``: readable in error messages."""
    dims = ["?" if d is None or (isinstance(d, int) and d < 0) else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def default_layout(io: IOSpec, layout: str | None) -> str | None:
    """``layout``, or NHWC (TensorFlow's layout) when it is not given and the first input is 4-d."""
    if layout is not None:
        return layout
    return "NHWC" if io.inputs and len(io.inputs[0].shape) == 4 else None


def with_layout(io: IOSpec, layout: str | None, field: str = "model.layout") -> IOSpec:
    """The IO spec with ``layout`` set on its first input (which must then be a 4-d image tensor)."""
    if layout is None or not io.inputs:
        return io
    first = io.inputs[0]
    if len(first.shape) != 4:
        raise ParameterError(
            field,
            f"{layout} describes 4-d image inputs, but input '{first.name}' has shape {shape_text(first.shape)}",
        )
    return IOSpec(inputs=(dataclasses.replace(first, layout=layout), *io.inputs[1:]), outputs=io.outputs)


def input_normalization(
    first: TensorSpec, layout: str | None, mean: list[float] | None, std: list[float] | None
) -> dict[str, Any] | None:
    """``metadata["input_normalization"]`` ({mean, std, axis}) for a user's model, or None without mean/std.

    The core runner applies it to the dataset's inputs, so calibration, benchmark and evaluation all see inputs
    normalized the way the model was trained.
    """
    if mean is None and std is None:
        return None
    if layout is None:
        raise ParameterError(
            "model.layout", "set NHWC or NCHW: mean and std are applied per channel along the layout's axis"
        )
    axis = -1 if layout == "NHWC" else 1
    channels = first.shape[axis] if len(first.shape) >= 2 else None
    mean = list(mean) if mean is not None else [0.0]
    std = list(std) if std is not None else [1.0]
    for name, values in (("mean", mean), ("std", std)):
        if len(values) != 1 and isinstance(channels, int) and len(values) != channels:
            raise ParameterError(
                f"model.{name}",
                f"has {len(values)} values, but input '{first.name}' has {channels} channels on axis {axis} "
                f"(shape {shape_text(first.shape)}); give one value or one per channel",
            )
    if len(mean) != len(std) and 1 not in (len(mean), len(std)):
        raise ParameterError("model.std", f"has {len(std)} values but model.mean has {len(mean)}")
    if any(s == 0 for s in std):
        raise ParameterError("model.std", "must not contain 0 (inputs are divided by it)")
    return {"mean": mean, "std": std, "axis": axis}
