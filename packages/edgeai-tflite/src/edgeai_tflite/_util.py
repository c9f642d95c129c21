"""Small helpers shared by the runtime and compile sides; they import neither TensorFlow nor an interpreter."""

from __future__ import annotations

import dataclasses
from typing import Any

from edgeai_core.api import IOSpec, ParameterError, TensorSpec, condense, shape_text
from edgeai_core.api import input_normalization as _input_normalization

__all__ = ["condense", "default_layout", "input_normalization", "shape_text", "with_layout"]


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
    return _input_normalization(first, layout, mean, std)
