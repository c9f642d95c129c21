"""Per-layer profiles of the ``tvm`` runtime: the Relax VM's instrumentation hook times every call the VM makes.

TVM 0.27's runtime ``VirtualMachine`` has no ``profile()`` method (that needs the full compiler library and a
VM built for profiling); what the runtime library does have is ``set_instrument``: a function called before
and after each Call instruction with the callee's symbol. A second VM over the same library runs the inputs
``runs + 1`` times with the hook timing each call (the first run is dropped); the hook's own Python overhead is
inside each measured call, so small operators look slower than they are, and the layers add up to more of the
whole-model time than they would without it.

Mapping to ONNX nodes: TVM's ONNX importer keeps no node names, but the compiler records the ONNX graph's
nodes in order (artifact metadata ``onnx_nodes``) and TVM names a fused function after the operators in it
(``fused_conv2d1_add_relu``). Within one run, the k-th call whose name contains ``conv2d`` is the k-th ONNX
``Conv`` node, and likewise for the other operator kinds of :data:`KINDS`; a kind whose call count differs
from its node count is not mapped. The VM's own builtins (allocation, shape checks) and operators whose kind
has no clear ONNX counterpart are ``unknown``.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.api import LayerProfile, ModelProfile, ProfileUnavailable, mapped

if TYPE_CHECKING:
    from edgeai_tvm.runtime import TvmRuntime

#: a profiled run this many times longer than the median run was stalled by something else: left out
STALL_FACTOR = 3
#: TVM operator name token -> the ONNX op types it comes from
KINDS: dict[str, tuple[str, ...]] = {
    "conv2d": ("Conv",),
    "conv2d_transpose": ("ConvTranspose",),
    "relu": ("Relu",),
    "max_pool2d": ("MaxPool",),
    "avg_pool2d": ("AveragePool",),
    "adaptive_avg_pool2d": ("GlobalAveragePool",),
    "softmax": ("Softmax",),
    "matmul": ("MatMul", "Gemm"),
    "dense": ("Gemm", "MatMul"),
    "sigmoid": ("Sigmoid",),
    "clip": ("Clip",),
}


def _kinds(symbol: str) -> list[str]:
    """The operator kinds in a TVM function name, in order (``fused_conv2d1_add_relu`` -> conv2d, relu)."""
    name = symbol.removeprefix("fused_")
    found = []
    for kind in sorted(KINDS, key=len, reverse=True):  # conv2d_transpose before conv2d
        for match in re.finditer(rf"(?:^|_){kind}\d*(?=_|$)", name):
            found.append((match.start(), kind))
            name = name[: match.start()] + " " * (match.end() - match.start()) + name[match.end() :]
    return [kind for _, kind in sorted(found)]


def profile_vm(runtime: TvmRuntime, inputs: Sequence[np.ndarray], runs: int) -> ModelProfile:
    tvm = runtime._tvm
    artifact = runtime._artifact
    if tvm is None or artifact is None or runtime._vm is None:
        raise ProfileUnavailable("runtime tvm has no model loaded")
    path = artifact.file_for("tvm", "tvm", "libraries")
    vm = tvm.runtime.vm.VirtualMachine(tvm.runtime.load_module(str(path)), tvm.cpu())
    if not hasattr(vm, "set_instrument"):
        raise ProfileUnavailable(f"TVM {tvm.__version__}'s VirtualMachine has no set_instrument hook")
    tensors = runtime._tensors(inputs)
    main = vm["main"]
    clock = time.perf_counter_ns
    stack: list[int] = []
    calls: list[tuple[str, int]] = []

    def instrument(func: Any, symbol: str, before: bool, ret: Any, *args: Any) -> int:
        now = clock()
        if before:
            stack.append(now)
        elif stack:
            calls.append((str(symbol), now - stack.pop()))
        return 0  # VMInstrumentReturnKind.kNoOp: go on

    vm.set_instrument(instrument)
    main(*tensors)  # warm-up, not counted
    calls.clear()
    per_run: list[list[tuple[str, int]]] = []
    wholes: list[int] = []
    for _ in range(runs):
        started = clock()
        main(*tensors)
        wholes.append(clock() - started)
        per_run.append(list(calls))
        calls.clear()
    # a run stalled by another process (many times the median) would dominate every mean: left out
    limit = STALL_FACTOR * sorted(wholes)[len(wholes) // 2]
    calm = [(run, whole) for run, whole in zip(per_run, wholes, strict=True) if whole <= limit]
    nodes = [(str(n), str(t)) for n, t in artifact.metadata.get("onnx_nodes") or []]
    layers, notes = _layers([run for run, _ in calm], nodes)
    if len(calm) < runs:
        notes.append(f"{runs - len(calm)} of {runs} runs left out: over {STALL_FACTOR}x the median run")
    runs = len(calm)
    whole = sum(w for _, w in calm)
    notes.append("timed by the Relax VM's instrument hook: each call includes the hook's Python overhead")
    return ModelProfile("tvm-relax-vm-instrument", tuple(layers), runs, whole / runs / 1e3, tuple(notes))


def assign_nodes(
    symbols: Sequence[str], nodes: Sequence[tuple[str, str]]
) -> tuple[dict[int, list[str]], list[str]]:
    """Which ONNX node(s) each call position of one run stands for, by operator kind and order."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for name, op_type in nodes:
        by_type[op_type].append(name)
    wanted: dict[str, list[int]] = defaultdict(list)  # kind -> call positions, in order
    for position, symbol in enumerate(symbols):
        for kind in _kinds(symbol):
            wanted[kind].append(position)
    assigned: dict[int, list[str]] = defaultdict(list)
    notes = []
    if not nodes:
        notes.append("the artifact records no ONNX nodes (compiled before edgeai recorded them): no mapping")
    order = {name: i for i, (name, _) in enumerate(nodes)}
    for kind, positions in wanted.items():
        candidates = [n for op in KINDS[kind] for n in by_type.get(op, [])]
        candidates.sort(key=lambda n: order[n])
        if nodes and len(candidates) != len(positions):
            notes.append(
                f"{len(positions)} TVM calls with {kind} but {len(candidates)} ONNX nodes of its type: not mapped"
            )
            continue
        for position, node in zip(positions, candidates, strict=False):
            assigned[position].append(node)
    return assigned, notes


def _layers(
    per_run: list[list[tuple[str, int]]], nodes: list[tuple[str, str]]
) -> tuple[list[LayerProfile], list[str]]:
    runs = len(per_run)
    first = per_run[0] if per_run else []
    assigned, notes = assign_nodes([symbol for symbol, _ in first], nodes)
    # one layer per call of a compiled function (TVM reuses one function for identical layers: each call is
    # its own ONNX node), one per builtin (the VM's allocations and checks, summed)
    occurrences: dict[str, int] = defaultdict(int)
    for symbol, _ in first:
        occurrences[symbol] += 1
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    members: dict[str, list[str]] = defaultdict(list)
    kinds_of: dict[str, str] = {}
    for run in per_run:
        seen: dict[str, int] = defaultdict(int)
        for position, (symbol, ns) in enumerate(run):
            builtin = symbol.startswith("vm.")
            index = seen[symbol]
            seen[symbol] += 1
            key = symbol if builtin or occurrences[symbol] <= 1 else f"{symbol}#{index + 1}"
            kinds_of[key] = "vm.builtin" if builtin else "+".join(_kinds(symbol)) or symbol
            totals[key] += ns
            counts[key] += 1
            if run is first:
                members[key].extend(assigned.get(position, []))
    position_of = {name: i for i, (name, _) in enumerate(nodes)}
    layers = [
        mapped(
            key,
            kinds_of[key],
            total / runs / 1e3,
            sorted(members[key], key=lambda n: position_of.get(n, 0)),
            counts[key] / runs,
        )
        for key, total in totals.items()
    ]
    if assigned:
        notes.append("mapped to ONNX nodes by operator kind and call order (TVM keeps no ONNX node names)")
    return layers, notes
