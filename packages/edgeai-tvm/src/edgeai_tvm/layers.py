"""Intermediate tensors of a ``tvm`` library, for per-layer numerics (``fidelity.layers``; core's
:mod:`edgeai_core.layerwise`).

The compiled Relax functions run in destination-passing style: each call the VM makes to a compiled function
(``fused_conv2d_relu(x, w, out)``) gets its output tensor as the last argument. A second VM over the same
library runs the inputs once with the instrument hook (the one :mod:`edgeai_tvm.profile` times calls with)
copying that last argument after every compiled call, so what is compared is what the deployed library
computes, fusion included. Calls map to ONNX nodes as in the profile (operator kind and call order against the
``onnx_nodes`` the compiler recorded); a call's output is the output of the last ONNX node in its group
(``fused_conv2d_relu`` -> the Relu's), reported under that node's name. Calls with no mapped node (the VM's
builtins, a ``mean`` or ``reshape`` whose ONNX op type has no counterpart in the table) are not compared: the
reference's nodes they run join the next compared group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.api import LayerCapture
from edgeai_tvm.profile import assign_nodes

if TYPE_CHECKING:
    from edgeai_tvm.runtime import TvmRuntime


def capture_layers(runtime: TvmRuntime, inputs: Sequence[np.ndarray]) -> LayerCapture | None:
    tvm, artifact = runtime._tvm, runtime._artifact
    if tvm is None or artifact is None or runtime._vm is None:
        return None
    nodes = [(str(n), str(t)) for n, t in artifact.metadata.get("onnx_nodes") or []]
    if not nodes:
        return None  # compiled before the compiler recorded the ONNX nodes: nothing to map calls to
    path = artifact.file_for("tvm", "tvm", "libraries")
    vm = tvm.runtime.vm.VirtualMachine(tvm.runtime.load_module(str(path)), tvm.cpu())
    if not hasattr(vm, "set_instrument"):
        return None
    calls: list[tuple[str, np.ndarray | None]] = []

    def instrument(func: Any, symbol: str, before: bool, ret: Any, *args: Any) -> int:
        if not before and not str(symbol).startswith("vm."):
            last: Any = args[-1] if args else None
            value = np.asarray(last.numpy()).copy() if last is not None and hasattr(last, "numpy") else None
            calls.append((str(symbol), value))
        return 0  # VMInstrumentReturnKind.kNoOp: go on

    vm.set_instrument(instrument)
    vm["main"](*runtime._tensors(inputs))
    assigned, notes = assign_nodes([symbol for symbol, _ in calls], nodes)
    order = {name: i for i, (name, _) in enumerate(nodes)}
    by_node: dict[str, np.ndarray] = {}
    for position, (_, value) in enumerate(calls):
        members = sorted(assigned.get(position, []), key=lambda n: order[n])
        if members and value is not None:
            by_node[members[-1]] = value
    notes.append(
        f"{path.name}: each compiled call's output read through the Relax VM's instrument hook and reported "
        "under the last ONNX node of its group (mapped by operator kind and call order)"
    )
    return LayerCapture({}, (), (), notes, by_node)
