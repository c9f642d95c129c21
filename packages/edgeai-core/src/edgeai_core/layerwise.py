"""Per-layer numerics: which layer of a quantized or compiled model adds the error its outputs show.

With ``fidelity.layers = true``, every compared step whose runtime can expose intermediate tensors
(:meth:`edgeai_core.components.Runtime.layer_outputs`) is run next to the reference on the same seeded inputs
with every intermediate tensor exposed; each tensor the reference graph computes is compared under its name
(a QDQ model's runtime gives the *dequantized* activation at the float tensor's name). Per tensor:
``cosine_similarity``, ``snr_db`` (``10 log10(sum r^2 / sum (c - r)^2)``, capped at :data:`MAX_SNR_DB`),
``max_abs_error``, ``relative_error`` (``||c - r|| / ||r||``) and the error the producing layer *added*:
``added_error`` = its output's relative error minus the largest relative error among its inputs (negative
when a layer damps the error it receives, as ReLU and pooling often do).

The ranking lists the layers that add the most error, each with the usual fixes (keep it in float through
onnx-quantize's ``exclude_nodes``, per-channel weights, another calibration method); the growth curve is the
relative error along the graph's order. Runtimes that cannot expose intermediates give "model outputs only".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edgeai_core.artifacts import Artifact
    from edgeai_core.components import Runtime
    from edgeai_core.records import RuntimeRecord

log = logging.getLogger(__name__)

#: the SNR of a tensor without any error (JSON has no infinity)
MAX_SNR_DB = 200.0
#: inputs compared layer by layer (intermediate tensors of every layer are held in memory)
DEFAULT_LAYER_SAMPLES = 8
#: layers the ranking lists
TOP_LAYERS = 10
#: operator types whose weights per-channel quantization helps
_WEIGHTED = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


@dataclass(frozen=True)
class LayerNode:
    """One node of the graph that produced the captured tensors."""

    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass
class LayerCapture:
    """What :meth:`Runtime.layer_outputs` returns: tensors by name and the nodes in the graph's order."""

    tensors: dict[str, np.ndarray]
    nodes: tuple[LayerNode, ...] = ()
    #: the graph's inputs (their error is zero: both sides get the same inputs)
    inputs: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    #: outputs known only by the reference node that makes them (a backend that keeps node names, not tensor
    #: names: TVM's fused functions mapped to ONNX nodes); used for a node with one output
    by_node: dict[str, np.ndarray] = field(default_factory=dict)
    #: whether ``nodes`` are an ONNX graph's (onnx-quantize's exclude_nodes can name them)
    onnx: bool = True


@dataclass(frozen=True)
class TensorNumerics:
    """One tensor of the candidate against the reference's."""

    tensor: str
    node: str
    op_type: str
    index: int
    cosine_similarity: float
    snr_db: float
    max_abs_error: float
    relative_error: float
    input_relative_error: float
    added_error: float
    #: every reference node between the inputs' compared tensors and this one (more than one when fused)
    nodes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "tensor": self.tensor,
            "node": self.node,
            "nodes": list(self.nodes or (self.node,)),
            "op_type": self.op_type,
            "index": self.index,
            "cosine_similarity": self.cosine_similarity,
            "snr_db": self.snr_db,
            "max_abs_error": self.max_abs_error,
            "relative_error": self.relative_error,
            "input_relative_error": self.input_relative_error,
            "added_error": self.added_error,
        }


def _finite(value: float, cap: float = 1e30) -> float:
    if math.isnan(value):
        return cap
    return max(-cap, min(cap, value))


def tensor_metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """cosine, SNR dB, max abs and relative error of ``candidate`` against ``reference``."""
    r = np.asarray(reference, dtype=np.float64).ravel()
    c = np.asarray(candidate, dtype=np.float64).ravel()
    if r.size != c.size:
        raise ValueError(f"{c.size} values against the reference's {r.size}")
    err = c - r
    signal, noise = float(r @ r), float(err @ err)
    norms = math.sqrt(signal) * math.sqrt(float(c @ c))
    cosine = 1.0 if norms == 0 and noise == 0 else (float(r @ c) / norms if norms > 0 else 0.0)
    if noise == 0:
        snr = MAX_SNR_DB
    elif signal == 0:
        snr = -MAX_SNR_DB
    else:
        snr = min(MAX_SNR_DB, 10 * math.log10(signal / noise))
    return {
        "cosine_similarity": _finite(cosine),
        "snr_db": _finite(snr),
        "max_abs_error": _finite(float(np.abs(err).max()) if err.size else 0.0),
        "relative_error": _finite(math.sqrt(noise) / max(math.sqrt(signal), 1e-30)),
    }


def compare_captures(reference: LayerCapture, candidate: LayerCapture) -> list[TensorNumerics]:
    """Every tensor the reference's nodes produce and the candidate also has, in the graph's order.

    A tensor the candidate lacks (fused away: a Conv's output when its Relu was fused in) is not compared; its
    node joins the group of the next compared tensor, so the error is charged to the nodes that made it."""
    errors: dict[str, float] = {name: 0.0 for name in reference.inputs}
    #: uncompared tensor -> (its inputs' error, the nodes since the last compared tensors)
    pending: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]]] = {}
    rows: list[TensorNumerics] = []
    index = 0
    for node in reference.nodes:
        incoming = 0.0
        members: dict[str, str] = {}  # node name -> op type, in the graph's order
        for name in node.inputs:
            if name in errors:
                incoming = max(incoming, errors[name])
            elif name in pending:
                error, nodes, types = pending[name]
                incoming = max(incoming, error)
                members.update(zip(nodes, types, strict=True))
        members[node.name] = node.op_type
        group, ops = tuple(members), tuple(members.values())
        for output in node.outputs:
            ref, got = reference.tensors.get(output), candidate.tensors.get(output)
            if got is None and len(node.outputs) == 1:
                got = candidate.by_node.get(node.name)
            metrics = None
            if ref is not None and got is not None and np.asarray(ref).dtype.kind in "fiu":
                try:
                    metrics = tensor_metrics(ref, got)
                except ValueError as exc:
                    log.info("layer numerics: tensor %s skipped: %s", output, exc)
            if metrics is None:
                pending[output] = (incoming, group, ops)
                continue
            errors[output] = metrics["relative_error"]
            main = next((n for n, t in members.items() if t in _WEIGHTED), node.name)
            rows.append(
                TensorNumerics(
                    tensor=output,
                    node=main,
                    op_type=members[main],
                    index=index,
                    input_relative_error=incoming,
                    added_error=metrics["relative_error"] - incoming,
                    nodes=group,
                    **metrics,
                )
            )
            index += 1
    return rows


def suggestions(row: TensorNumerics, step_metadata: Mapping[str, Any], onnx: bool = True) -> list[str]:
    """The usual fixes for a layer that adds much error, in the terms of onnx-quantize's parameters (``onnx``:
    the nodes are an ONNX graph's; else another framework's operators, which exclude_nodes cannot name)."""
    names = ", ".join(f'"{n}"' for n in (row.nodes or (row.node,)))
    if onnx:
        fixes = [f"keep it in float: exclude_nodes = [{names}]"]
    else:
        fixes = [
            f"keep it in float ({names} are not ONNX nodes: exclude them in the converter that quantized them)"
        ]
    if row.op_type in _WEIGHTED and step_metadata.get("per_channel") is False:
        fixes.append("quantize weights per channel: per_channel = true")
    method = step_metadata.get("calibration_method")
    if method == "minmax":
        fixes.append('clip activation outliers: calibration_method = "percentile" (or "entropy")')
    elif method in ("percentile", "entropy"):
        fixes.append('try calibration_method = "minmax" (no clipping) or more calibration_samples')
    return fixes


def ranking(
    rows: Sequence[TensorNumerics], metadata: Mapping[str, Any], top: int = TOP_LAYERS, onnx: bool = True
) -> list[Any]:
    """The layers that add the most error, most first (one entry per node), with fixes."""
    by_node: dict[str, TensorNumerics] = {}
    for row in rows:
        known = by_node.get(row.node)
        if known is None or row.added_error > known.added_error:
            by_node[row.node] = row
    ordered = sorted(by_node.values(), key=lambda r: (-r.added_error, r.index))
    return [
        {
            "rank": i + 1,
            "node": row.node,
            "nodes": list(row.nodes or (row.node,)),
            "op_type": row.op_type,
            "tensor": row.tensor,
            "added_error": row.added_error,
            "relative_error": row.relative_error,
            "snr_db": row.snr_db,
            "suggestions": suggestions(row, metadata, onnx),
        }
        for i, row in enumerate(ordered[:top])
        if row.added_error > 0
    ]


def layers_unavailable(reason: str) -> dict[str, Any]:
    return {"status": "model_outputs_only", "reason": reason}


def layer_section(
    reference: LayerCapture,
    candidate: LayerCapture,
    samples: int,
    reference_runtime: str,
    runtime: str,
    metadata: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``layers`` entry of a fidelity step."""
    rows = compare_captures(reference, candidate)
    if not rows:
        return layers_unavailable(
            f"no intermediate tensor of {runtime} matches the reference's by name; model outputs only"
        )
    return {
        "status": "ok",
        "samples": samples,
        "reference_runtime": reference_runtime,
        "runtime": runtime,
        "tensors": [row.to_json() for row in rows],
        "ranking": ranking(rows, metadata, onnx=reference.onnx),
        "notes": list(dict.fromkeys([*reference.notes, *candidate.notes])),
    }


def capture(
    record: RuntimeRecord,
    artifact: Artifact,
    inputs: Sequence[np.ndarray],
    create: Any,
) -> LayerCapture | None:
    """Load ``artifact`` in a fresh runtime of ``record`` and capture its intermediates on ``inputs``."""
    from edgeai_core.fidelity import _fit

    runtime: Runtime = create(record)
    try:
        runtime.load(artifact)
        fitted = [_fit(x, spec) for x, spec in zip(inputs, artifact.io.inputs, strict=False)] or list(inputs)
        first = artifact.io.inputs[0].shape[0] if artifact.io.inputs and artifact.io.inputs[0].shape else None
        if isinstance(first, int) and first > 0 and first != fitted[0].shape[0]:
            return _batched(runtime, fitted, first)
        return runtime.layer_outputs(fitted)
    finally:
        runtime.close()


def _batched(runtime: Runtime, inputs: Sequence[np.ndarray], batch: int) -> LayerCapture | None:
    """Static-batch models: capture batch by batch and stack each tensor along axis 0."""
    total = int(inputs[0].shape[0])
    parts: list[LayerCapture] = []
    for start in range(0, total - batch + 1, batch):
        got = runtime.layer_outputs([x[start : start + batch] for x in inputs])
        if got is None:
            return None
        parts.append(got)
    if not parts:
        return None
    names = [n for n in parts[0].tensors if all(n in p.tensors for p in parts)]
    tensors = {n: np.concatenate([np.asarray(p.tensors[n]).reshape(1, -1) for p in parts]) for n in names}
    nodes = [n for n in parts[0].by_node if all(n in p.by_node for p in parts)]
    by_node = {n: np.concatenate([np.asarray(p.by_node[n]).reshape(1, -1) for p in parts]) for n in nodes}
    return LayerCapture(tensors, parts[0].nodes, parts[0].inputs, parts[0].notes, by_node, parts[0].onnx)


__all__ = [
    "MAX_SNR_DB",
    "LayerCapture",
    "LayerNode",
    "TensorNumerics",
    "compare_captures",
    "layer_section",
    "ranking",
    "tensor_metrics",
]


def step_layers(check: Any, record: RuntimeRecord, artifact: Artifact, metadata: Mapping[str, Any]) -> Any:
    """The ``layers`` entry for a step the fidelity check (:class:`edgeai_core.fidelity.FidelityCheck`) just
    compared: the reference and ``artifact`` captured on the first inputs, compared tensor by tensor."""
    from edgeai_core.fidelity import choose_runtime

    reference = check._reference
    inputs = check._inputs
    if reference is None or inputs is None:
        return layers_unavailable("no reference to compare with")
    count = min(int(check.settings.get("layer_samples") or DEFAULT_LAYER_SAMPLES), int(inputs[0].shape[0]))
    batch = [np.asarray(x[:count]) for x in inputs]
    ref_record = choose_runtime(check.host, reference.artifact.format)
    if ref_record is None:
        return layers_unavailable(f"no installed runtime loads the reference's {reference.artifact.format}")

    def create(which: RuntimeRecord) -> Runtime:
        params = check.preferred_params if which is check.preferred else {}
        runtime: Runtime = which.create(
            params, where="fidelity", context=check.context(f"layers-{which.name}")
        )
        return runtime

    try:
        ref_capture = capture(ref_record, reference.artifact, batch, create)
        stand_in = None
        if ref_capture is None:  # the road's first float step within tolerance whose runtime can (an export)
            for step, float_artifact in check.float_steps:
                float_record = choose_runtime(check.host, float_artifact.format)
                if float_record is None or float_artifact is artifact:
                    continue
                ref_capture = capture(float_record, float_artifact, batch, create)
                if ref_capture is not None:
                    stand_in, ref_record = step, float_record
                    break
        if ref_capture is None:
            return layers_unavailable(
                f"runtime {ref_record.name} cannot expose the reference's intermediate tensors; model outputs only"
            )
        got = capture(record, artifact, batch, create)
        if got is None:
            return layers_unavailable(
                f"runtime {record.name} cannot expose the intermediate tensors of {artifact.format} models; "
                "model outputs only"
            )
        section = layer_section(ref_capture, got, count, ref_record.name, record.name, metadata)
        if stand_in is not None:
            section["reference_step"] = stand_in
            section.setdefault("notes", []).append(
                f"layers compared with {stand_in}'s float artifact (within tolerance of the reference), as "
                f"{reference.runtime} cannot expose the reference's intermediate tensors"
            )
        return section
    except Exception as exc:  # recorded; the step's output comparison stands
        log.warning("layer numerics failed for %s: %s", artifact.path.name, exc)
        return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
