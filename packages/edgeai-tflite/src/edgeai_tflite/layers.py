"""Intermediate tensors of a ``.tflite`` model, for per-layer numerics (``fidelity.layers``; core's
:mod:`edgeai_core.layerwise`).

The model is loaded again in a second interpreter with ``experimental_preserve_all_tensors=True`` and TFLite's
builtin kernels (XNNPACK keeps a delegated partition's intermediates inside its own buffers, so they could not be
read), run once on the inputs, and every operator's output is read back. Integer tensors with a scale are
dequantized (``scale * (q - zero_point)``, per channel where the model says so), so an int8 model's activations
compare with a float model's at the same tensor names. TFLite's converter gives a tensor the names of the
TensorFlow ops it came from (``model/conv1/Relu;model/conv1/BiasAdd``); the float and int8 conversions of one
model keep the same names, so tensors are matched by name. Nodes are the operators (``#3 CONV_2D``), with their
non-constant inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.api import LayerCapture, LayerNode, dequantize
from edgeai_tflite import TFLITE
from edgeai_tflite._capture import quiet

if TYPE_CHECKING:
    from edgeai_tflite.runtime import TfliteRuntime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Quantized:
    """A tensor's scale and zero point, as core's ``dequantize`` reads them."""

    scale: Any
    zero_point: Any


def _quantization(details: dict[str, Any]) -> tuple[Any, Any, int] | None:
    params = details.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []), np.float64).ravel()
    zeros = np.asarray(params.get("zero_points", []), np.int64).ravel()
    if scales.size == 0 or not np.any(scales):
        return None
    zero = zeros if zeros.size == scales.size else np.zeros_like(scales, dtype=np.int64)
    if scales.size == 1:
        return float(scales[0]), int(zero[0]), 0
    return (
        tuple(float(s) for s in scales),
        tuple(int(z) for z in zero),
        int(params.get("quantized_dimension", 0)),
    )


def _value(interpreter: Any, details: dict[str, Any]) -> np.ndarray:
    value = np.asarray(interpreter.get_tensor(int(details["index"])))
    if value.dtype.kind not in "iu":
        return value
    quantization = _quantization(details)
    if quantization is None:
        return value
    scale, zero, axis = quantization
    return np.asarray(dequantize(value, _Quantized(scale, zero), axis=axis))


def capture_layers(runtime: TfliteRuntime, inputs: Sequence[np.ndarray]) -> LayerCapture | None:
    backend, artifact = runtime._backend, runtime._artifact
    if backend is None or artifact is None:
        return None
    arrays = runtime._prepare(inputs)
    path = artifact.file_for("tflite", TFLITE)
    kwargs: dict[str, Any] = {
        "model_path": str(path),
        "num_threads": int(runtime.params["threads"]),
        "experimental_preserve_all_tensors": True,
    }
    resolver = backend.op_resolver(False)  # builtin kernels: XNNPACK's partitions hide their intermediates
    if resolver is not None:
        kwargs["experimental_op_resolver_type"] = resolver
    with quiet(backend.name):
        interpreter = backend.interpreter_class(**kwargs)
        for array, slot in zip(arrays, runtime._inputs, strict=True):
            if tuple(array.shape) != tuple(interpreter.get_tensor_details()[slot.index]["shape"]):
                interpreter.resize_tensor_input(slot.index, list(array.shape), strict=False)
        interpreter.allocate_tensors()
        for array, slot in zip(arrays, runtime._inputs, strict=True):
            interpreter.set_tensor(slot.index, array)
        interpreter.invoke()
    details = {int(d["index"]): d for d in interpreter.get_tensor_details()}
    graph_inputs = {s.index for s in runtime._inputs}
    produced: set[int] = set()
    nodes: list[LayerNode] = []
    tensors: dict[str, np.ndarray] = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] == "DELEGATE":
            continue
        outs = [int(t) for t in op["outputs"] if int(t) >= 0]
        ins = [int(t) for t in op["inputs"] if int(t) >= 0 and (int(t) in produced or int(t) in graph_inputs)]
        for index in outs:
            produced.add(index)
            try:
                tensors[str(details[index]["name"])] = _value(interpreter, details[index])
            except ValueError as exc:  # a tensor the interpreter did not keep
                log.info("tensor %s not read: %s", details[index]["name"], exc)
        nodes.append(
            LayerNode(
                f"#{op['index']} {op['op_name']}",
                str(op["op_name"]),
                tuple(str(details[i]["name"]) for i in ins),
                tuple(str(details[i]["name"]) for i in outs),
            )
        )
    for slot in runtime._inputs:
        tensors.setdefault(str(details[slot.index]["name"]), _value(interpreter, details[slot.index]))
    notes = [
        f"{path.name}: intermediates read with TFLite's builtin kernels (experimental_preserve_all_tensors); "
        "integer tensors dequantized with their scale and zero point; matched by tensor name"
    ]
    graph = tuple(str(details[s.index]["name"]) for s in runtime._inputs)
    return LayerCapture(tensors, tuple(nodes), graph, notes, onnx=False)
