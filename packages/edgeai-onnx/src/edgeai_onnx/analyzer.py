"""Complexity of an ONNX graph (the ``onnx`` analyzer): per node the operator, shapes, parameters, weight
bytes by dtype, MACs, FLOPs and activation bytes; model totals and peak activation memory.

The graph is read without its external data (``load_external_data=False``): a tensor's size comes from its
``dims`` and ``data_type``, so a model with gigabytes of weights is analysed without reading them. Only tiny
integer tensors (at most :data:`SMALL_INT_ELEMENTS` elements, such as a Reshape's target shape) are read from
an external data file when it is there, so that shape inference can follow them.

Dynamic dimensions are fixed before ONNX shape inference runs: a graph input's first dimension to
``batch_size``, a named dimension to ``dims[name]`` when given, any other to 1; each fixed dimension is
reported in ``assumed_dims`` as ``"input:dim"`` (the dim's name, or its index when it has none).

Counting rules (the shared ones are in :mod:`edgeai_core.complexity`); ``out`` is the number of output
elements, ``K`` the reduced length:

- Conv, ConvInteger, QLinearConv: MACs = out x (C_in / group) x kernel size (depthwise convolutions are
  groups of one channel); ConvTranspose: MACs = input elements x (C_out / group) x kernel size. Gemm, MatMul
  (batched, broadcast), MatMulInteger, QLinearMatMul: MACs = out x K. A bias adds ``out`` FLOPs.
- LSTM, GRU, RNN: MACs of the input and recurrent products per step and direction (4, 3, 1 gates); FLOPs
  add 15, 12 and 3 elementwise operations per hidden unit and step for the gates.
- FLOPs = 2 x MACs + the other arithmetic: elementwise and activation operators 1 per output element (n - 1
  for n-input Sum/Max/Min/Mean), pooling 1 per output element and kernel element (Global*: 1 per input
  element), reductions 1 per input element, BatchNormalization 2, LayerNormalization, InstanceNormalization
  and GroupNormalization 5, Softmax 3, LogSoftmax 4, QuantizeLinear and DequantizeLinear 2 per element.
- Data movement (Reshape, Transpose, Flatten, Concat, Squeeze, Gather, Slice, Pad, Resize...) counts 0.
- ``params``/``weight_bytes``: each constant (initializer or Constant output) counts once, at the first node
  that reads it. In a QDQ model the int8 weights therefore belong to the DequantizeLinear layers, and the
  float Conv after them has 0 params but all the MACs. Int64 tensors (ONNX's type for shapes, axes, pads and
  indices) and the int32 tensors of data-movement operators (Gather's indices) are metadata: not parameters,
  and left out of ``dtypes``.
- Operators not in these tables (custom domains, If/Loop/Scan with subgraphs, Einsum...), and counted
  operators whose shapes could not be inferred, go to ``unknown_ops`` with ``macs=None``: totals are then
  lower bounds.
- Peak activation memory follows the graph's node order (ONNX requires it to be topological); a tensor of
  unknown shape counts 0 bytes. Tensors a subgraph reads from the outer graph live until its node runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto

from edgeai_core.api import (
    AnalysisError,
    Artifact,
    LayerComplexity,
    ModelAnalyzer,
    ModelComplexity,
)
from edgeai_onnx._util import condense

#: integer tensors this small are read from an external data file for shape inference (Reshape targets)
SMALL_INT_ELEMENTS = 64

#: ``TensorProto`` element types: (dtype name, bits per element)
_DTYPES: dict[int, tuple[str, int]] = {
    TensorProto.FLOAT: ("float32", 32),
    TensorProto.UINT8: ("uint8", 8),
    TensorProto.INT8: ("int8", 8),
    TensorProto.UINT16: ("uint16", 16),
    TensorProto.INT16: ("int16", 16),
    TensorProto.INT32: ("int32", 32),
    TensorProto.INT64: ("int64", 64),
    TensorProto.STRING: ("string", 0),
    TensorProto.BOOL: ("bool", 8),
    TensorProto.FLOAT16: ("float16", 16),
    TensorProto.DOUBLE: ("float64", 64),
    TensorProto.UINT32: ("uint32", 32),
    TensorProto.UINT64: ("uint64", 64),
    TensorProto.COMPLEX64: ("complex64", 64),
    TensorProto.COMPLEX128: ("complex128", 128),
    TensorProto.BFLOAT16: ("bfloat16", 16),
}
for _name, _bits in (
    ("FLOAT8E4M3FN", 8),
    ("FLOAT8E4M3FNUZ", 8),
    ("FLOAT8E5M2", 8),
    ("FLOAT8E5M2FNUZ", 8),
    ("UINT4", 4),
    ("INT4", 4),
    ("FLOAT4E2M1", 4),
):
    if hasattr(TensorProto, _name):
        _DTYPES[int(getattr(TensorProto, _name))] = (_name.lower(), _bits)

_INTEGER_TYPES = {TensorProto.INT64, TensorProto.INT32}


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: one FLOP per output element (and n - 1 for variadic ones)
_ELEMENTWISE = _names(
    """Add Sub Mul Div Pow Mod Max Min Sum Mean Equal Greater GreaterOrEqual Less LessOrEqual And Or Xor Not
    Where BitShift BitwiseAnd BitwiseOr BitwiseXor BitwiseNot Relu LeakyRelu PRelu Clip Sigmoid Tanh Erf Gelu
    HardSwish HardSigmoid Elu Selu Celu Softplus Softsign Mish ThresholdedRelu Exp Log Sqrt Neg Abs Reciprocal
    Floor Ceil Round Sign Sin Cos Tan Asin Acos Atan Sinh Cosh Asinh Acosh Atanh IsNaN IsInf Shrink"""
)
#: FLOPs per output element
_PER_ELEMENT = {
    "BatchNormalization": 2,
    "LayerNormalization": 5,
    "InstanceNormalization": 5,
    "GroupNormalization": 5,
    "LpNormalization": 3,
    "MeanVarianceNormalization": 5,
    "Softmax": 3,
    "LogSoftmax": 4,
    "Hardmax": 1,
    "QuantizeLinear": 2,
    "DequantizeLinear": 2,
    "DynamicQuantizeLinear": 3,
}
_REDUCE = _names(
    """ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp
    ReduceSumSquare ArgMax ArgMin CumSum TopK"""
)
_POOL = frozenset({"MaxPool", "AveragePool", "LpPool", "MaxRoiPool"})
_GLOBAL_POOL = frozenset({"GlobalMaxPool", "GlobalAveragePool", "GlobalLpPool"})
#: no arithmetic, only data movement or metadata
_ZERO = _names(
    """Reshape Transpose Flatten Concat Squeeze Unsqueeze Identity Shape Size Gather GatherElements GatherND
    Slice Split Pad Expand Tile Constant ConstantOfShape Cast CastLike Resize Upsample Range NonZero
    DepthToSpace SpaceToDepth Dropout ScatterElements ScatterND Scatter Compress ReverseSequence OneHot
    EyeLike Trilu SequenceConstruct SequenceAt SplitToSequence ConcatFromSequence"""
)
#: where a convolution's weight is: input index of the weight, input index of the bias
_CONV = {"Conv": (1, 2), "ConvInteger": (1, None), "QLinearConv": (3, 8)}
_MATMUL = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}
_RNN_GATES = {"LSTM": (4, 15), "GRU": (3, 12), "RNN": (1, 3)}
#: operators of the com.microsoft domain that ONNX Runtime's quantizer writes, counted like their float twins
_MS_ALIASES = {
    "QLinearAdd": "Add",
    "QLinearMul": "Mul",
    "QLinearSigmoid": "Sigmoid",
    "QLinearLeakyRelu": "LeakyRelu",
    "QLinearAveragePool": "AveragePool",
    "QLinearGlobalAveragePool": "GlobalAveragePool",
    "QLinearConcat": "Concat",
    "QLinearSoftmax": "Softmax",
    "QGemm": "Gemm",
    "Gelu": "Gelu",
    "FastGelu": "Gelu",
    "QuickGelu": "Gelu",
}

Shape = tuple[int, ...]


def _op_name(node: onnx.NodeProto) -> str:
    if node.domain in ("", "ai.onnx"):
        return node.op_type
    return f"{node.domain}.{node.op_type}"


def _nbytes(shape: Shape | None, elem_type: int | None) -> int:
    if shape is None or elem_type is None or elem_type not in _DTYPES:
        return 0
    return math.ceil(math.prod(shape) * _DTYPES[elem_type][1] / 8)


def _dtype(elem_type: int | None) -> str | None:
    if elem_type is None:
        return None
    return _DTYPES.get(elem_type, (TensorProto.DataType.Name(elem_type).lower(), 0))[0]


def _concrete(type_proto: onnx.TypeProto) -> tuple[Shape | None, int | None]:
    if not type_proto.HasField("tensor_type"):
        return None, None
    tensor = type_proto.tensor_type
    elem = tensor.elem_type or None
    if not tensor.HasField("shape"):
        return None, elem
    dims = []
    for dim in tensor.shape.dim:
        if not dim.HasField("dim_value") or dim.dim_value < 0:
            return None, elem
        dims.append(int(dim.dim_value))
    return tuple(dims), elem


def _constant_shape(node: onnx.NodeProto) -> tuple[Shape, int]:
    """Shape and element type of a Constant node's value."""
    for attr in node.attribute:
        if attr.name in ("value", "sparse_value"):
            t = attr.t if attr.name == "value" else attr.sparse_tensor.values
            dims = tuple(attr.sparse_tensor.dims) if attr.name == "sparse_value" else tuple(t.dims)
            return dims, t.data_type
        if attr.name in ("value_float", "value_int", "value_string"):
            kind = {"value_float": TensorProto.FLOAT, "value_int": TensorProto.INT64}
            return (), kind.get(attr.name, TensorProto.STRING)
        if attr.name == "value_floats":
            return (len(attr.floats),), TensorProto.FLOAT
        if attr.name == "value_ints":
            return (len(attr.ints),), TensorProto.INT64
        if attr.name == "value_strings":
            return (len(attr.strings),), TensorProto.STRING
    return (), TensorProto.FLOAT


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Names the node's subgraphs (If/Loop/Scan bodies) read, including from the outer graph."""
    names: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.HasField("g") else list(attr.graphs)
        for graph in graphs:
            for inner in graph.node:
                names.update(n for n in inner.input if n)
                names |= _subgraph_inputs(inner)
    return names


@dataclass
class _Graph:
    """What the analysis knows of each tensor: shape, element type, whether it is a constant."""

    shapes: dict[str, Shape | None] = field(default_factory=dict)
    types: dict[str, int | None] = field(default_factory=dict)
    constants: set[str] = field(default_factory=set)

    def shape(self, name: str) -> Shape | None:
        return self.shapes.get(name) if name else None

    def add(self, name: str, shape: Shape | None, elem: int | None) -> None:
        if shape is not None or name not in self.shapes:
            self.shapes[name] = shape
        if elem is not None or name not in self.types:
            self.types[name] = elem

    def bytes(self, name: str) -> int:
        return _nbytes(self.shapes.get(name), self.types.get(name))


def fix_dims(
    model: onnx.ModelProto, batch_size: int = 1, dims: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Give every dynamic dimension of the graph's inputs a value (in place); return ``assumed_dims``."""
    dims = dict(dims or {})
    initializers = {t.name for t in model.graph.initializer}
    assumed: dict[str, int] = {}
    for value in model.graph.input:
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        shape = value.type.tensor_type.shape
        for index, dim in enumerate(shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            label = dim.dim_param if dim.HasField("dim_param") and dim.dim_param else str(index)
            fixed = dims.get(label, batch_size if index == 0 else 1)
            dim.Clear()
            dim.dim_value = int(fixed)
            assumed[f"{value.name}:{label}"] = int(fixed)
    return assumed


def _load_small_external(model: onnx.ModelProto, base: Path) -> None:
    """Read the tiny integer tensors (shapes, axes) of an external data file, when the file is there."""
    from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data

    for tensor in model.graph.initializer:
        if (
            uses_external_data(tensor)
            and tensor.data_type in _INTEGER_TYPES
            and math.prod(tensor.dims) <= SMALL_INT_ELEMENTS
        ):
            location = next((e.value for e in tensor.external_data if e.key == "location"), "")
            if not location or Path(location).is_absolute() or ".." in Path(location).parts:
                continue  # only files inside the model's folder are read
            try:
                load_external_data_for_tensor(tensor, str(base))
            except Exception:  # a missing or short data file: shape inference goes without it
                continue
            tensor.data_location = TensorProto.DEFAULT
            del tensor.external_data[:]


def load_graph(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """The model at ``path`` without its external data (only its tiny integer tensors)."""
    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except OSError as exc:
        raise AnalysisError(f"{path} cannot be read: {condense(exc)}") from None
    except Exception as exc:  # protobuf's DecodeError
        raise AnalysisError(f"{path} does not parse as an ONNX model: {condense(exc, 160)}") from None
    _load_small_external(model, path.parent)
    return model


def analyze_model(
    model: onnx.ModelProto,
    *,
    batch_size: int = 1,
    dims: Mapping[str, int] | None = None,
    analyzer: str = "onnx",
) -> ModelComplexity:
    """Analyse ``model`` (modified in place: its dynamic input dims are fixed)."""
    assumed = fix_dims(model, batch_size, dims)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # an inconsistent graph: go on with the shapes it declares
        inferred = model
    graph = inferred.graph
    info = _Graph()
    for tensor in graph.initializer:
        info.add(tensor.name, tuple(tensor.dims), tensor.data_type)
        info.constants.add(tensor.name)
    for value in [*graph.input, *graph.value_info, *graph.output]:
        info.add(value.name, *_concrete(value.type))
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            shape, elem = _constant_shape(node)
            info.add(node.output[0], shape, elem)
            info.constants.add(node.output[0])
    _fill_shapes(graph.node, info)
    layers = _layers(graph.node, info)
    peak = peak_activation_bytes(graph, info)
    return _totals(layers, info, peak, assumed, analyzer)


#: operators whose first output has the first input's shape (used where shape inference gave none)
_SAME_SHAPE = (
    _ELEMENTWISE
    | frozenset(_PER_ELEMENT)
    | frozenset(
        {
            "QLinearAdd",
            "QLinearMul",
            "QLinearSigmoid",
            "QLinearLeakyRelu",
            "QLinearSoftmax",
            "FastGelu",
            "QuickGelu",
        }
    )
)


def _fill_shapes(nodes: Sequence[onnx.NodeProto], info: _Graph) -> None:
    """Shapes ONNX shape inference left out (ONNX Runtime's com.microsoft operators and what follows them)."""
    for node in nodes:
        if not node.output or not node.input or info.shape(node.output[0]) is not None:
            continue
        op, out = node.op_type, node.output[0]
        if op in _SAME_SHAPE and node.op_type not in ("Sum", "Max", "Min", "Mean", "Where"):
            shape = info.shape(node.input[0])
            if op == "DequantizeLinear":
                elem = info.types.get(node.input[1]) if len(node.input) > 1 else TensorProto.FLOAT
            elif op == "QuantizeLinear":
                zero = node.input[2] if len(node.input) > 2 else ""
                elem = info.types.get(zero) if zero else TensorProto.UINT8
            else:
                elem = info.types.get(node.input[0])
            info.add(out, shape, elem)
        elif op in ("Gemm", "QGemm"):
            a = info.shape(node.input[0])
            b = (
                info.shape(node.input[1 if op == "Gemm" else 3])
                if len(node.input) > 3 or op == "Gemm"
                else None
            )
            if a is not None and b is not None and len(a) == 2 and len(b) == 2:
                m = a[1] if _attr(node, "transA", 0) else a[0]
                n = b[0] if _attr(node, "transB", 0) else b[1]
                y_zero = node.input[8] if op == "QGemm" and len(node.input) > 8 else ""
                elem = info.types.get(y_zero) if y_zero else TensorProto.FLOAT
                info.add(out, (m, n), elem)


def _layers(nodes: Sequence[onnx.NodeProto], info: _Graph) -> list[tuple[LayerComplexity, bool]]:
    """Each node's figures, and whether it was counted."""
    counted_constants: set[str] = set()
    layers = []
    for index, node in enumerate(nodes):
        name = node.name or f"{node.op_type}_{index}"
        params = 0
        weights: dict[str, int] = {}
        metadata = _INTEGER_TYPES if node.op_type in _ZERO else {TensorProto.INT64}
        for inp in node.input:
            if info.types.get(inp) in metadata:
                continue  # a shape, axes or indices of a data-movement operator, not a parameter
            if inp in info.constants and inp not in counted_constants:
                counted_constants.add(inp)
                shape = info.shape(inp) or ()
                params += math.prod(shape)
                dtype = _dtype(info.types.get(inp)) or "unknown"
                weights[dtype] = weights.get(dtype, 0) + info.bytes(inp)
        outputs = [o for o in node.output if o]
        is_constant = node.op_type == "Constant"
        counts = _count(node, info)
        dtypes = sorted(
            {
                d
                for n in (*node.input, *outputs)
                if n and info.types.get(n) not in metadata
                for d in [_dtype(info.types.get(n))]
                if d is not None
            }
        )
        layer = LayerComplexity(
            name=name,
            op_type=_op_name(node),
            input_shapes=tuple(info.shape(i) or () for i in node.input),
            output_shapes=tuple(info.shape(o) or () for o in outputs),
            params=params,
            weight_bytes=weights,
            macs=None if counts is None else counts[0],
            flops=None if counts is None else counts[1],
            activation_bytes=0 if is_constant else sum(info.bytes(o) for o in outputs),
            dtypes=tuple(dtypes),
        )
        layers.append((layer, counts is not None))
    return layers


def _count(node: onnx.NodeProto, info: _Graph) -> tuple[int, int] | None:
    """(MACs, FLOPs) of one node, or None when it cannot be counted."""
    op = node.op_type
    if node.domain == "com.microsoft" and op in _MS_ALIASES:
        op = _MS_ALIASES[op]
    elif node.domain not in ("", "ai.onnx"):
        return None
    if any(attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for attr in node.attribute):
        return None
    if op in _ZERO:
        return 0, 0
    inputs = list(node.input)
    y = info.shape(node.output[0]) if node.output else None
    if y is None:
        return None
    out = math.prod(y)
    if op in _CONV:
        w_at, b_at = _CONV[op]
        w = info.shape(inputs[w_at]) if len(inputs) > w_at else None
        if w is None or len(w) < 2:
            return None
        macs = out * w[1] * math.prod(w[2:])
        bias = out if b_at is not None and len(inputs) > b_at and inputs[b_at] else 0
        return macs, 2 * macs + bias
    if op == "ConvTranspose":
        x = info.shape(inputs[0])
        w = info.shape(inputs[1]) if len(inputs) > 1 else None
        if x is None or w is None or len(w) < 2:
            return None
        macs = math.prod(x) * w[1] * math.prod(w[2:])
        bias = out if len(inputs) > 2 and inputs[2] else 0
        return macs, 2 * macs + bias
    if op == "Gemm":
        a = info.shape(inputs[0])
        if a is None or len(a) != 2:
            return None
        k = a[0] if _attr(node, "transA", 0) else a[1]
        macs = out * k
        bias = out if len(inputs) > 2 and inputs[2] else 0
        return macs, 2 * macs + bias
    if op in _MATMUL:
        a = info.shape(inputs[_MATMUL[op][0]])
        if a is None or not a:
            return None
        macs = out * a[-1]
        return macs, 2 * macs
    if op in _RNN_GATES:
        return _rnn(node, info, *_RNN_GATES[op])
    if op in _ELEMENTWISE:
        variadic = op in ("Sum", "Max", "Min", "Mean")
        return 0, out * max(1, len([i for i in inputs if i]) - 1) if variadic else out
    if op in _PER_ELEMENT:
        return 0, out * _PER_ELEMENT[op]
    if op in _POOL:
        kernel = _attr(node, "kernel_shape", None)
        if kernel is None:
            return None
        return 0, out * math.prod(kernel)
    if op in _GLOBAL_POOL or op in _REDUCE:
        x = info.shape(inputs[0])
        return None if x is None else (0, math.prod(x))
    return None


def _rnn(node: onnx.NodeProto, info: _Graph, gates: int, elementwise: int) -> tuple[int, int] | None:
    x = info.shape(node.input[0])
    w = info.shape(node.input[1])
    if x is None or w is None or len(x) != 3 or len(w) != 3:
        return None
    directions, rows, input_size = w
    hidden = rows // gates
    seq, batch = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
    steps = directions * seq * batch
    macs = steps * gates * hidden * (input_size + hidden)
    return macs, 2 * macs + steps * hidden * elementwise


def peak_activation_bytes(graph: onnx.GraphProto, info: _Graph) -> int:
    """The largest sum of live non-constant tensors at any node of ``graph``'s order (see the module)."""
    nodes = list(graph.node)
    end = len(nodes) - 1
    born: dict[str, int] = {}
    last: dict[str, int] = {}
    for value in graph.input:
        if value.name not in info.constants:
            born[value.name] = 0
            last[value.name] = 0
    for step, node in enumerate(nodes):
        for name in {*node.input, *_subgraph_inputs(node)}:
            if name in born:
                last[name] = step
        if node.op_type == "Constant":
            continue
        for name in node.output:
            if name and name not in info.constants:
                born[name] = step
                last[name] = step
    for value in graph.output:
        if value.name in born:
            last[value.name] = max(end, 0)
    live = [0] * max(len(nodes), 1)
    for name, start in born.items():
        size = info.bytes(name)
        for step in range(start, last[name] + 1):
            live[step] += size
    return max(live)


def _totals(
    layers: Iterable[tuple[LayerComplexity, bool]],
    info: _Graph,
    peak: int,
    assumed: Mapping[str, int],
    analyzer: str,
) -> ModelComplexity:
    rows = list(layers)
    weights: dict[str, int] = {}
    for layer, _ in rows:
        for dtype, size in layer.weight_bytes.items():
            weights[dtype] = weights.get(dtype, 0) + size
    unknown = sorted({layer.op_type for layer, counted in rows if not counted})
    dtypes = sorted({d for layer, _ in rows for d in layer.dtypes})
    return ModelComplexity(
        format="onnx",
        analyzer=analyzer,
        layers=tuple(layer for layer, _ in rows),
        params=sum(layer.params for layer, _ in rows),
        weight_bytes=weights,
        macs=sum(layer.macs or 0 for layer, _ in rows),
        flops=sum(layer.flops or 0 for layer, _ in rows),
        peak_activation_bytes=peak,
        op_types=tuple(sorted({layer.op_type for layer, _ in rows})),
        dtypes=tuple(dtypes),
        unknown_ops=tuple(unknown),
        assumed_dims=dict(assumed),
    )


def analyze_file(
    path: str | os.PathLike[str], *, batch_size: int = 1, dims: Mapping[str, int] | None = None
) -> ModelComplexity:
    """Analyse the ``.onnx`` file at ``path`` (its external data is not read)."""
    return analyze_model(load_graph(path), batch_size=batch_size, dims=dims)


class OnnxAnalyzer(ModelAnalyzer):
    """The ``onnx`` analyzer: :func:`analyze_file` on the artifact's model file, with the record's params."""

    def analyze(self, artifact: Artifact) -> ModelComplexity:
        if artifact.path.is_dir():
            raise AnalysisError(f"{artifact.path} is a directory, not an .onnx file")
        dims = {str(k): int(v) for k, v in dict(self.params.get("dims") or {}).items()}
        return analyze_model(
            load_graph(artifact.path),
            batch_size=int(self.params.get("batch_size", 1)),
            dims=dims,
            analyzer=self.record.name,
        )

    def versions(self) -> dict[str, str]:
        return {"onnx": onnx.__version__}


__all__ = ["OnnxAnalyzer", "analyze_file", "analyze_model", "fix_dims", "load_graph", "peak_activation_bytes"]
