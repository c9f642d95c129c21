"""Intermediate tensors of an ONNX model, for per-layer numerics (``fidelity.layers``; core's
:mod:`edgeai_core.layerwise`).

The model is loaded again with every node output added as a graph output and run once in ONNX Runtime with the
runtime's session options. In a QDQ model (onnx-quantize's static mode) an activation ``X`` is computed in float,
then quantized and dequantized (``QuantizeLinear -> DequantizeLinear``) before the next layer reads it: the value
reported under the name ``X`` is that *dequantized* tensor, the one the next layer sees, so it lines up with the
float model's ``X``. Nodes are reported with Q/DQ pairs removed (their inputs renamed back to float tensors).

Needs the ``onnx`` package; without it the runtime cannot expose intermediates (model outputs only).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from edgeai_core.api import LayerCapture, LayerNode

if TYPE_CHECKING:
    from edgeai_onnx.runtime import OnnxRuntime

log = logging.getLogger(__name__)

_QDQ = ("QuantizeLinear", "DequantizeLinear")


def capture_layers(runtime: OnnxRuntime, inputs: Sequence[np.ndarray]) -> LayerCapture | None:
    try:
        import onnx
    except ImportError:
        log.info("per-layer numerics need the onnx package; model outputs only")
        return None
    if runtime.session is None or runtime._artifact is None:
        return None
    feed = runtime._feed(inputs)
    path = runtime._artifact.file_for("onnxruntime", "onnx")
    model = onnx.load(str(path))
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    # X -> the dequantized copy of X that the next layers read (QDQ models)
    dequantized: dict[str, str] = {}
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        quantize = producers.get(node.input[0])
        if quantize is None or quantize.op_type != "QuantizeLinear":
            continue
        source = quantize.input[0]
        if source not in initializers and source not in dequantized:
            dequantized[source] = node.output[0]
    alias = {}  # a DQ output -> the float tensor it stands for
    for source, dq in dequantized.items():
        alias[dq] = source
    for node in graph.node:  # the Q and DQ outputs of a pair both stand for the float tensor
        if node.op_type == "DequantizeLinear" and node.input[0] in producers:
            quantize = producers[node.input[0]]
            if quantize.op_type == "QuantizeLinear" and quantize.input[0] in dequantized:
                alias.setdefault(node.output[0], quantize.input[0])
    nodes: list[LayerNode] = []
    wanted: list[str] = []
    for i, node in enumerate(graph.node):
        if node.op_type in _QDQ:
            continue
        name = node.name or f"{node.op_type}_{i}"
        ins = tuple(alias.get(t, t) for t in node.input if t and t not in initializers)
        ins = tuple(t for t in ins if not _is_weight(t, producers, initializers))
        outs = tuple(t for t in node.output if t)
        nodes.append(LayerNode(name, node.op_type, ins, outs))
        wanted.extend(outs)
    fetch = {name: dequantized.get(name, name) for name in wanted}
    existing = {o.name for o in graph.output}
    for tensor in dict.fromkeys(fetch.values()):
        if tensor not in existing:
            graph.output.append(onnx.ValueInfoProto(name=tensor))
    options = runtime.options or ort.SessionOptions()
    session = ort.InferenceSession(
        model.SerializeToString(),
        sess_options=options,
        providers=runtime.session.get_providers(),
        disabled_optimizers=runtime.disabled_optimizers,
    )
    names = list(dict.fromkeys(fetch.values()))
    values = dict(zip(names, session.run(names, feed), strict=True))
    tensors = {name: np.asarray(values[source]) for name, source in fetch.items()}
    notes = []
    if dequantized:
        notes.append(f"{runtime._artifact.path.name}: QDQ activations compared after DequantizeLinear")
    graph_inputs = tuple(v.name for v in graph.input if v.name not in initializers)
    return LayerCapture(tensors, tuple(nodes), graph_inputs, notes)


def _is_weight(tensor: str, producers: dict[str, object], initializers: set[str]) -> bool:
    """A dequantized weight (DQ of an initializer) is not an activation input."""
    node = producers.get(tensor)
    if node is None or getattr(node, "op_type", "") != "DequantizeLinear":
        return False
    return getattr(node, "input", [""])[0] in initializers
