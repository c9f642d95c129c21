"""Tensors against their IO spec: whether samples fit an input, and (de)quantization of integer tensors.

Pure numpy. A quantized tensor's IO spec (:class:`~edgeai_core.artifacts.TensorSpec`) carries ``scale`` and
``zero_point`` (scalars per tensor, sequences per channel): ``real = scale * (q - zero_point)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from edgeai_core.errors import ParameterError, UsageError
from edgeai_core.text import shape_text


class Quantized(Protocol):
    """What (de)quantization reads: a :class:`~edgeai_core.artifacts.TensorSpec`, or a runtime's own tensor."""

    @property
    def scale(self) -> float | tuple[float, ...] | None: ...

    @property
    def zero_point(self) -> int | tuple[int, ...] | None: ...


def channel_axis(layout: str | None) -> int:
    """The channel axis of per-channel quantization parameters: -1 for NHWC, else 1 (NCHW, or a 2-d tensor)."""
    return -1 if layout == "NHWC" else 1


def _broadcast(values: Any, ndim: int, axis: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 0 or ndim < 2:
        return array
    shape = [1] * ndim
    shape[axis] = -1
    return array.reshape(shape)


def _axis(spec: Quantized, axis: int | None) -> int:
    return axis if axis is not None else channel_axis(getattr(spec, "layout", None))


def quantize(x: np.ndarray, spec: Quantized, dtype: Any = None, *, axis: int | None = None) -> np.ndarray:
    """``q = clip(round(x / scale) + zero_point)`` in ``dtype`` (default: the spec's), per tensor or per channel.

    ``axis`` is the channel axis of per-channel parameters (default: from the spec's layout).
    """
    dtype = np.dtype(dtype if dtype is not None else getattr(spec, "dtype"))  # noqa: B009
    axis = _axis(spec, axis)
    scale = _broadcast(spec.scale, x.ndim, axis)
    zero = _broadcast(spec.zero_point if spec.zero_point is not None else 0, x.ndim, axis)
    info = np.iinfo(dtype)
    q = np.rint(np.asarray(x, dtype=np.float32) / scale) + zero
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, spec: Quantized, *, axis: int | None = None) -> np.ndarray:
    """``real = scale * (q - zero_point)`` as float32."""
    axis = _axis(spec, axis)
    scale = _broadcast(spec.scale, q.ndim, axis)
    zero = _broadcast(spec.zero_point if spec.zero_point is not None else 0, q.ndim, axis)
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)


def fits_input(sample_shape: Sequence[int], want: Sequence[object]) -> bool:
    """Whether samples of ``sample_shape`` (no batch dimension) fit an input of per-sample shape ``want``.

    Unknown and named dimensions (None, a name, a negative number) take any size.
    """
    return len(want) == len(sample_shape) and all(
        not isinstance(w, int) or w < 0 or w == g for w, g in zip(want, sample_shape, strict=True)
    )


def check_input_shape(
    sample_shape: Sequence[int],
    spec: Any,
    dataset: str,
    *,
    what: str = "samples",
    note: str = "",
    error: type[Exception] = UsageError,
) -> None:
    """Fail early, with both shapes named, when a dataset's samples do not fit the model's input ``spec``.

    ``sample_shape`` has no batch dimension; ``spec`` is the input's TensorSpec (its first dimension is the
    batch). The error reads "dataset D gives WHAT of shape (..), but the model's input 'x' expects (..)NOTE".
    """
    want = tuple(spec.shape[1:])
    got = tuple(int(d) for d in sample_shape)
    if not fits_input(got, want):
        raise error(
            f"dataset {dataset} gives {what} of shape {shape_text(got)}, but the model's input '{spec.name}' "
            f"expects {shape_text(want)}{note}"
        )


def input_normalization(
    first: Any, layout: str | None, mean: Sequence[float] | None, std: Sequence[float] | None
) -> dict[str, Any] | None:
    """``metadata["input_normalization"]`` ({mean, std, axis}) for a model's first input, None without mean/std.

    The core runner applies it to the dataset's inputs, so calibration, benchmark and evaluation all see inputs
    normalized the way the model was trained. The channel axis follows ``layout`` (-1 for NHWC, else 1); each of
    mean and std has one value or one per channel. Raises :class:`ParameterError` naming ``model.mean``/``.std``.
    """
    if mean is None and std is None:
        return None
    axis = channel_axis(layout)
    channels = first.shape[axis] if len(first.shape) >= 2 else None
    means = list(mean) if mean is not None else [0.0]
    stds = list(std) if std is not None else [1.0]
    for name, values in (("mean", means), ("std", stds)):
        if len(values) != 1 and isinstance(channels, int) and len(values) != channels:
            raise ParameterError(
                f"model.{name}",
                f"has {len(values)} values, but input '{first.name}' has {channels} channels on axis {axis} "
                f"(shape {shape_text(first.shape)}); give one value or one per channel",
            )
    if len(means) != len(stds) and 1 not in (len(means), len(stds)):
        raise ParameterError("model.std", f"has {len(stds)} values but model.mean has {len(means)}")
    if any(s == 0 for s in stds):
        raise ParameterError("model.std", "must not contain 0 (inputs are divided by it)")
    return {"mean": means, "std": stds, "axis": axis}
