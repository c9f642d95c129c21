"""IO specs of TFLite models, read from an interpreter, and the (de)quantization of their tensors.

A TFLite tensor's quantization (``real = scale * (q - zero_point)``) is stored in the model; the compiler copies
it into the artifact's IO spec (:class:`~edgeai_core.artifacts.TensorSpec` ``scale``/``zero_point``) so that
runtimes, the wire protocol and reports know how to turn float inputs into the integers an int8/uint8 model takes,
and its integer outputs back into floats. Names come from the model's signature (``input``, ``logits``) where it
has one, else from the tensors.

Needs numpy and an interpreter object only: no TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeai_core.api import DTYPES, ArtifactError, IOSpec, TensorSpec
from edgeai_core.api import dequantize as dequantize_tensor
from edgeai_core.api import quantize as quantize_tensor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    """One interpreter input or output: its tensor index, dtype, shape signature and quantization."""

    index: int
    name: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    scale: float | tuple[float, ...] | None
    zero_point: int | tuple[int, ...] | None
    axis: int

    @property
    def quantized(self) -> bool:
        """Integer tensor with a scale: floats are quantized on the way in and dequantized on the way out."""
        return self.scale is not None and self.dtype.kind in "iu"

    def spec(self, layout: str | None = None) -> TensorSpec:
        shape = tuple(None if d < 0 else int(d) for d in self.signature)
        return TensorSpec(
            self.name,
            shape,
            self.dtype.name,
            scale=self.scale,
            zero_point=self.zero_point,
            layout=layout if len(shape) == 4 else None,
        )


def _quantization(details: dict[str, Any]) -> tuple[Any, Any, int]:
    """``(scale, zero_point, axis)``: scalars per tensor, tuples per channel, Nones for unquantized tensors."""
    params = details.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []), dtype=np.float64).ravel()
    zeros = np.asarray(params.get("zero_points", []), dtype=np.int64).ravel()
    axis = int(params.get("quantized_dimension", 0))
    if scales.size == 0:
        scale, zero = details.get("quantization", (0.0, 0))
        if not scale:
            return None, None, 0
        return float(scale), int(zero), 0
    if not np.any(scales):
        return None, None, 0
    if scales.size == 1:
        return float(scales[0]), int(zeros[0]) if zeros.size else 0, 0
    zero_points = tuple(int(z) for z in zeros) if zeros.size == scales.size else (0,) * scales.size
    return tuple(float(s) for s in scales), zero_points, axis


def slot(details: dict[str, Any], name: str | None = None) -> Slot:
    """A :class:`Slot` from one entry of ``get_input_details()``/``get_output_details()``."""
    dtype = np.dtype(details["dtype"])
    if dtype.name not in DTYPES:
        raise ArtifactError(
            f"tensor '{details.get('name')}' has type {dtype.name}, which edgeai cannot feed or read"
        )
    shape = tuple(int(d) for d in details["shape"])
    signature = details.get("shape_signature")
    sig = tuple(int(d) for d in signature) if signature is not None and len(signature) else shape
    scale, zero, axis = _quantization(details)
    return Slot(
        index=int(details["index"]),
        name=name or str(details["name"]),
        dtype=dtype,
        shape=shape,
        signature=sig,
        scale=scale,
        zero_point=zero,
        axis=axis,
    )


def signature_names(interpreter: Any) -> tuple[dict[int, str], dict[int, str]]:
    """Tensor index -> signature name for inputs and outputs, when the model has exactly one signature."""
    try:
        signatures = interpreter.get_signature_list()
    except Exception:  # an old interpreter without signatures
        return {}, {}
    if len(signatures) != 1:
        return {}, {}
    key = next(iter(signatures))
    with contextlib.suppress(Exception):
        full = interpreter._get_full_signature_list()[key]
        return (
            {int(i): str(n) for n, i in full["inputs"].items()},
            {int(i): str(n) for n, i in full["outputs"].items()},
        )
    with contextlib.suppress(Exception):
        runner = interpreter.get_signature_runner(key)
        return (
            {int(d["index"]): str(n) for n, d in runner.get_input_details().items()},
            {int(d["index"]): str(n) for n, d in runner.get_output_details().items()},
        )
    return {}, {}


def slots(interpreter: Any) -> tuple[list[Slot], list[Slot]]:
    """The interpreter's inputs and outputs in model order, named by the signature where it has one."""
    input_names, output_names = signature_names(interpreter)
    inputs = [slot(d, input_names.get(int(d["index"]))) for d in interpreter.get_input_details()]
    outputs = [slot(d, output_names.get(int(d["index"]))) for d in interpreter.get_output_details()]
    return inputs, outputs


def io_spec(interpreter: Any, layout: str | None = None) -> IOSpec:
    """The IO spec of the model loaded in ``interpreter``; ``layout`` is set on 4-d tensors."""
    inputs, outputs = slots(interpreter)
    return IOSpec(
        inputs=tuple(s.spec(layout) for s in inputs),
        outputs=tuple(s.spec(layout) for s in outputs),
    )


def quantize(x: np.ndarray, s: Slot) -> np.ndarray:
    """``q = clip(round(x / scale) + zero_point)`` in the slot's integer type."""
    return quantize_tensor(x, s, s.dtype, axis=s.axis)


def dequantize(q: np.ndarray, s: Slot) -> np.ndarray:
    """``real = scale * (q - zero_point)`` as float32."""
    return dequantize_tensor(q, s, axis=s.axis)
