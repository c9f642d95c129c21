"""Per-layer profiles of the ``onnxruntime`` runtime: ONNX Runtime's own profiler, read back into the core's
records (:mod:`edgeai_core.profiling`).

A second session of the same model with ``SessionOptions.enable_profiling`` runs the inputs ``runs + 1``
times (the first run, with its one-time allocations, is dropped); ONNX Runtime writes a Chrome trace whose
``Node`` events (``<node>_kernel_time``) give each kernel's time and whose ``model_run`` events give the
whole run's. The trace file is written in the runtime's working folder and removed once read.

Node names map to the ONNX graph (read with the ``onnx`` package where installed): a kernel named after a node
is that node; a kernel that ONNX Runtime's optimizer renamed after a tensor (``r1_nchwc``) maps to the node
producing it; nodes whose kernels vanished in fusion (the Relu of a Conv+Relu) join the group of the node that
feeds them. Other kernels (layout reorders ONNX Runtime inserts) are ``unknown``.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from edgeai_core.api import LayerProfile, ModelProfile, ProfileUnavailable, mapped

if TYPE_CHECKING:
    from edgeai_onnx.runtime import OnnxRuntime

log = logging.getLogger(__name__)

_KERNEL = "_kernel_time"
#: a profiled run this many times longer than the median run was stalled by something else: left out
STALL_FACTOR = 3
#: suffixes ONNX Runtime's graph transformers append to the names of nodes they create
_SUFFIXES = re.compile(r"(_nchwc|_token_\d+|_fused|_FusedConv|_quant|_QLinear\w*)+$")


def profile_session(runtime: OnnxRuntime, inputs: Sequence[np.ndarray], runs: int) -> ModelProfile:
    """Profile ``runs`` inferences of the runtime's model on ``inputs`` in a separate profiling session."""
    if runtime.session is None or runtime.options is None or runtime._artifact is None:
        raise ProfileUnavailable("runtime onnxruntime has no model loaded")
    feed = runtime._feed(inputs)
    path = runtime._artifact.file_for("onnxruntime", "onnx")
    workdir = Path(runtime.context.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    options = _options(runtime)
    options.enable_profiling = True
    options.profile_file_prefix = str(workdir / f"ort-profile-{time.time_ns()}")
    session = ort.InferenceSession(
        str(path),
        sess_options=options,
        providers=runtime.session.get_providers(),
        disabled_optimizers=runtime.disabled_optimizers,
    )
    trace = ""
    try:
        for _ in range(runs + 1):
            session.run(runtime._output_names, feed)
    finally:
        trace = session.end_profiling()
    trace_path = Path(trace) if Path(trace).is_absolute() else Path.cwd() / trace
    try:
        events = json.loads(trace_path.read_text(encoding="utf-8"))
    finally:
        trace_path.unlink(missing_ok=True)
    graph, notes = _graph(path)
    return _parse(events, runs, graph, notes)


def _options(runtime: OnnxRuntime) -> ort.SessionOptions:
    from edgeai_onnx.runtime import session_options

    return session_options(runtime.params)


class _Graph:
    """The ONNX graph's node names, op types and which node produces / consumes each tensor."""

    def __init__(self, nodes: Sequence[tuple[str, str, Sequence[str], Sequence[str]]]) -> None:
        self.nodes = {name: (op, tuple(i), tuple(o)) for name, op, i, o in nodes}
        self.order = [name for name, *_ in nodes]
        self.producer = {out: name for name, _, _, outs in nodes for out in outs}


def _graph(path: Path) -> tuple[_Graph | None, list[str]]:
    try:
        import onnx
    except ImportError:
        return None, ["the onnx package is not installed: kernels are not mapped to ONNX nodes"]
    model = onnx.load(str(path), load_external_data=False)
    nodes = []
    for i, node in enumerate(model.graph.node):
        nodes.append((node.name or f"{node.op_type}_{i}", node.op_type, list(node.input), list(node.output)))
    unnamed = sum(1 for node in model.graph.node if not node.name)
    notes = [f"{unnamed} ONNX nodes have no name; they cannot be matched"] if unnamed else []
    return _Graph(nodes), notes


def _runs(events: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return sorted(
        (int(e["ts"]), int(e["ts"]) + int(e.get("dur", 0)))
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )


def _parse(events: list[dict[str, Any]], runs: int, graph: _Graph | None, notes: list[str]) -> ModelProfile:
    windows = _runs(events)
    kept = windows[1:] if len(windows) > 1 else windows  # the first run is a warm-up
    if not kept:
        raise ProfileUnavailable("ONNX Runtime's trace has no model_run event")
    durations = [end - begin for begin, end in kept]
    # a run stalled by another process (many times the median) would dominate every mean: left out
    limit = STALL_FACTOR * sorted(durations)[len(durations) // 2]
    calm = [(w, d) for w, d in zip(kept, durations, strict=True) if d <= limit]
    if len(calm) < len(kept):
        notes = [
            *notes,
            f"{len(kept) - len(calm)} of {len(kept)} runs left out: over {STALL_FACTOR}x the median run",
        ]
    starts = [w[0] for w, _ in calm]
    totals: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    ops: dict[str, str] = {}
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith(_KERNEL):
            continue
        ts = int(event.get("ts", 0))
        index = bisect.bisect_right(starts, ts) - 1
        if index < 0 or ts > calm[index][0][1]:
            continue  # the warm-up run, or a left-out one
        kernel = name[: -len(_KERNEL)]
        totals[kernel] += float(event.get("dur", 0))
        calls[kernel] += 1
        ops[kernel] = str((event.get("args") or {}).get("op_name", ""))
    count = len(calm)
    model_us = sum(d for _, d in calm) / count
    layers = _map(totals, calls, ops, count, graph)
    return ModelProfile("onnxruntime", tuple(layers), count, model_us, tuple(notes))


def _map(
    totals: dict[str, float], calls: dict[str, int], ops: dict[str, str], runs: int, graph: _Graph | None
) -> list[LayerProfile]:
    groups: dict[str, list[str]] = {}
    for kernel in totals:
        groups[kernel] = _nodes_of(kernel, ops[kernel], graph) if graph is not None else []
    if graph is not None:  # nodes whose kernels vanished joined the group of the node feeding them
        claimed = {node for nodes in groups.values() for node in nodes}
        owner = {node: kernel for kernel, nodes in groups.items() for node in nodes}
        for name in graph.order:
            if name in claimed:
                continue
            _, inputs, _ = graph.nodes[name]
            for tensor in inputs:
                feeder = graph.producer.get(tensor)
                if feeder is not None and feeder in owner:
                    kernel = owner[feeder]
                    groups[kernel].append(name)
                    owner[name] = kernel
                    claimed.add(name)
                    break
    ordered = [n for n in graph.order] if graph is not None else []
    position = {n: i for i, n in enumerate(ordered)}
    return [
        mapped(
            kernel,
            ops[kernel],
            totals[kernel] / runs,
            sorted(groups[kernel], key=lambda n: position.get(n, 0)),
            calls[kernel] / runs,
        )
        for kernel in totals
    ]


def _nodes_of(kernel: str, op: str, graph: _Graph) -> list[str]:
    """The ONNX nodes one kernel runs: by name, else by the tensor an optimizer named it after."""
    kernel = kernel.removeprefix("fused ")  # ONNX Runtime's name for a node it fused others into
    if kernel in graph.nodes:
        return [kernel]
    base = _SUFFIXES.sub("", kernel)
    if base in graph.nodes:
        return [base]
    producer = graph.producer.get(base)
    if producer is None:
        return []
    nodes = [producer]
    # a fused kernel named after its activation's output: walk back to the node of the kernel's type
    current = producer
    for _ in range(3):
        current_op, inputs, _ = graph.nodes[current]
        if not op or current_op == op or not inputs:
            break
        feeder = graph.producer.get(inputs[0])
        if feeder is None:
            break
        nodes.insert(0, feeder)
        current = feeder
    if op and graph.nodes[nodes[0]][0] != op and len(nodes) > 1:
        return [producer]  # no node of the kernel's type nearby: the tensor's producer alone
    return nodes
