"""Tiny ``.tflite`` models written without TensorFlow, for the runtime tests of the numpy<2 profile.

A model is one FULLY_CONNECTED operator (``y = x @ W.T + b``), built with the flatbuffers object API of the TFLite
schema that ai-edge-litert ships (``ai_edge_litert.schema_py_generated``). The float version computes exactly
what numpy computes; the int8 version has quantized inputs and outputs (scale and zero point in the model), so
its dequantized outputs are within one output step of numpy's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _schema() -> Any:
    import ai_edge_litert.schema_py_generated as schema

    return schema


def _buffer(array: np.ndarray | None = None) -> Any:
    s = _schema()
    buffer = s.BufferT()
    if array is not None:
        buffer.data = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8)
    return buffer


def _tensor(
    name: str,
    shape: list[int],
    ttype: int,
    buffer: int,
    signature: list[int] | None = None,
    quantization: tuple[float, int] | None = None,
) -> Any:
    s = _schema()
    tensor = s.TensorT()
    tensor.name = name
    tensor.shape = np.asarray(shape, np.int32)
    if signature is not None:
        tensor.shapeSignature = np.asarray(signature, np.int32)
    tensor.type = ttype
    tensor.buffer = buffer
    if quantization is not None:
        q = s.QuantizationParametersT()
        q.scale = np.asarray([quantization[0]], np.float32)
        q.zeroPoint = np.asarray([quantization[1]], np.int64)
        tensor.quantization = q
    return tensor


def dense_model(
    weights: np.ndarray,
    bias: np.ndarray,
    *,
    int8: tuple[tuple[float, int], tuple[float, int]] | None = None,
    dynamic_batch: bool = True,
    input_name: str = "input",
    output_name: str = "output",
) -> bytes:
    """A one-operator model ``x @ weights.T + bias``; ``int8=((in_scale, in_zero), (out_scale, out_zero))``
    quantizes it (int8 inputs, weights and outputs, int32 bias)."""
    import flatbuffers

    s = _schema()
    w = np.asarray(weights, np.float32)
    b = np.asarray(bias, np.float32)
    units, features = w.shape
    model = s.ModelT()
    model.version = 3
    model.description = "edgeai test model"
    code = s.OperatorCodeT()
    code.builtinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    model.operatorCodes = [code]
    batch = -1 if dynamic_batch else 1
    if int8 is None:
        model.buffers = [_buffer(), _buffer(w), _buffer(b), _buffer(), _buffer()]
        tensors = [
            _tensor(input_name, [1, features], s.TensorType.FLOAT32, 3, [batch, features]),
            _tensor("weights", [units, features], s.TensorType.FLOAT32, 1),
            _tensor("bias", [units], s.TensorType.FLOAT32, 2),
            _tensor(output_name, [1, units], s.TensorType.FLOAT32, 4, [batch, units]),
        ]
    else:
        (in_scale, in_zero), (out_scale, out_zero) = int8
        w_scale = float(np.abs(w).max() / 127)
        qw = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        qb = np.round(b / (in_scale * w_scale)).astype(np.int32)
        model.buffers = [_buffer(), _buffer(qw), _buffer(qb), _buffer(), _buffer()]
        code.version = 4
        tensors = [
            _tensor(input_name, [1, features], s.TensorType.INT8, 3, [batch, features], (in_scale, in_zero)),
            _tensor("weights", [units, features], s.TensorType.INT8, 1, None, (w_scale, 0)),
            _tensor("bias", [units], s.TensorType.INT32, 2, None, (in_scale * w_scale, 0)),
            _tensor(output_name, [1, units], s.TensorType.INT8, 4, [batch, units], (out_scale, out_zero)),
        ]
    op = s.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.array([0, 1, 2], np.int32)
    op.outputs = np.array([3], np.int32)
    op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = s.FullyConnectedOptionsT()
    graph = s.SubGraphT()
    graph.name = "main"
    graph.tensors = tensors
    graph.inputs = np.array([0], np.int32)
    graph.outputs = np.array([3], np.int32)
    graph.operators = [op]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def edgetpu_model(features: int = 4, units: int = 3) -> bytes:
    """A model whose one operator is the Edge TPU's custom op, as ``edgetpu_compiler`` writes them: it loads,
    but only runs with the Edge TPU delegate."""
    import flatbuffers

    s = _schema()
    model = s.ModelT.InitFromPackedBuf(
        dense_model(np.zeros((units, features), np.float32), np.zeros(units)), 0
    )
    code = model.operatorCodes[0]
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.CUSTOM
    code.customCode = "edgetpu-custom-op"
    op = model.subgraphs[0].operators[0]
    op.builtinOptionsType, op.builtinOptions = 0, None
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write_artifact(folder: Path, blob: bytes, name: str = "model.tflite") -> Any:
    """Write ``blob`` with a sidecar whose IO spec the interpreter reads (as the compiler writes it)."""
    from edgeai_core.artifacts import Artifact
    from edgeai_tflite.files import read_io_spec

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(blob)
    return Artifact(path, "tflite", read_io_spec(path), producer="test").save()
