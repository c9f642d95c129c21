"""Per-layer profiles: where a model's inference time goes, layer by layer, in one vocabulary for every backend.

A runtime that can profile implements :meth:`edgeai_core.components.Runtime.profile`: it runs the model
``runs`` times with its framework's profiler on and returns a :class:`ModelProfile` holding one
:class:`LayerProfile` per backend operator (its own name and type, the ONNX node(s) it maps to where that is
knowable, mean time, share of the total, calls per run). A runtime that cannot profile returns None (the
default) or raises :class:`ProfileUnavailable` with the reason.

With ``benchmark.profile = true`` (``edgeai bench --profile``) the runner calls it in a separate pass *after*
the timed benchmark, so a profiler's overhead never reaches the reported latency; on remote targets the host
asks the target to run the same pass (STATS action PROFILE, :mod:`edgeai_core.wire.messages`) and the records
come back over the protocol. The result is the ``profile`` section of ``results.json`` (:class:`ProfileSection`).

ONNX node mapping (``onnx_nodes``): names of nodes of the ONNX graph the backend ran, or the graph the
artifact came from. One name: the operator is that node. Several: a fused group (``fused`` is true). None
(``mapping`` is ``"unknown"``): the backend's name could not be traced back to the graph.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeai_core.errors import EdgeaiError
from edgeai_core.params import Param

#: how an operator's ONNX nodes were found: ``exact`` (one node, by name), ``fused`` (a group of nodes, by the
#: names the backend kept), ``unknown`` (no mapping)
MAPPINGS = ("exact", "fused", "unknown")

#: the ``benchmark`` settings of the profile pass (appended to the benchmark's parameters)
PROFILE_PARAMS = (
    Param(
        "profile",
        "bool",
        default=False,
        help="after the timed benchmark, run a separate per-layer profile pass (never part of the latency)",
    ),
    Param(
        "profile_runs",
        "int",
        default=20,
        minimum=1,
        maximum=10_000,
        help="inferences the profile pass averages over",
    ),
)

#: the most runs a target server performs for one PROFILE request, and the count when the host names none
MAX_REMOTE_RUNS = 1000
DEFAULT_RUNS = 20


class ProfileUnavailable(EdgeaiError):
    """A runtime cannot profile this model here; the message says why (recorded in the ``profile`` section)."""


@dataclass(frozen=True)
class LayerProfile:
    """One backend operator's time, averaged over the profiled runs."""

    #: the backend's name for the operator (ONNX Runtime's node name, TVM's fused function, ...)
    name: str
    #: its operator type (``Conv``, ``fused_conv2d_add_relu``, ``CONV_2D``)
    op_type: str
    #: mean time per run in microseconds (all of the operator's calls in one run added up)
    mean_us: float
    #: calls of the operator per run (an operator in a loop runs several times)
    calls: float = 1.0
    #: the ONNX node names it maps to (see the module docstring); empty when unknown
    onnx_nodes: tuple[str, ...] = ()
    #: ``exact``, ``fused`` or ``unknown``
    mapping: str = "unknown"
    #: share of the sum of every layer's time, 0..1 (filled by :func:`normalize`)
    share: float = 0.0

    def __post_init__(self) -> None:
        if self.mapping not in MAPPINGS:
            raise ValueError(f"mapping must be one of {', '.join(MAPPINGS)}, got {self.mapping!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op_type": self.op_type,
            "onnx_nodes": list(self.onnx_nodes),
            "mapping": self.mapping,
            "fused": len(self.onnx_nodes) > 1,
            "mean_us": self.mean_us,
            "share": self.share,
            "calls": self.calls,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LayerProfile:
        return cls(
            name=str(data["name"]),
            op_type=str(data.get("op_type", "")),
            mean_us=float(data["mean_us"]),
            calls=float(data.get("calls", 1.0)),
            onnx_nodes=tuple(str(n) for n in data.get("onnx_nodes", ())),
            mapping=str(data.get("mapping", "unknown")),
            share=float(data.get("share", 0.0)),
        )


def mapped(name: str, op_type: str, mean_us: float, nodes: Sequence[str], calls: float = 1.0) -> LayerProfile:
    """A layer whose mapping follows from ``nodes``: none unknown, one exact, several fused."""
    kept = tuple(dict.fromkeys(n for n in nodes if n))
    mapping = "unknown" if not kept else "exact" if len(kept) == 1 else "fused"
    return LayerProfile(name, op_type, mean_us, calls, kept, mapping)


@dataclass(frozen=True)
class ModelProfile:
    """What :meth:`Runtime.profile` returns: the layers, and the whole-model time of the same runs."""

    #: the profiler that measured (``onnxruntime``, ``tvm-relax-vm``, ``torch.profiler``)
    profiler: str
    layers: tuple[LayerProfile, ...]
    runs: int
    #: mean whole-model time per profiled run in microseconds, as the same profiler (or a clock around the
    #: profiled calls) saw it; layers add up to :attr:`coverage` of it
    model_us: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def layers_us(self) -> float:
        return sum(layer.mean_us for layer in self.layers)

    @property
    def coverage(self) -> float | None:
        """Sum of layer times over the whole-model time (below 1: time between operators, framework overhead)."""
        if not self.model_us:
            return None
        return self.layers_us / self.model_us


def normalize(layers: Sequence[LayerProfile]) -> tuple[LayerProfile, ...]:
    """The layers sorted by time, longest first, each with its share of their sum."""
    total = sum(layer.mean_us for layer in layers)
    out = [
        LayerProfile(
            layer.name,
            layer.op_type,
            layer.mean_us,
            layer.calls,
            layer.onnx_nodes,
            layer.mapping,
            layer.mean_us / total if total > 0 else 0.0,
        )
        for layer in layers
    ]
    out.sort(key=lambda layer: (-layer.mean_us, layer.name))
    return tuple(out)


@dataclass(frozen=True)
class ProfileSection:
    """The ``profile`` section of ``results.json``: ``status`` ``ok``, ``unavailable`` or ``failed``."""

    status: str
    runtime: str
    #: ``local`` or ``target``
    where: str = "local"
    runs: int = 0
    profiler: str | None = None
    model_us: float | None = None
    layers: tuple[LayerProfile, ...] = ()
    reason: str | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, runtime: str, where: str, profile: ModelProfile) -> ProfileSection:
        return cls(
            "ok",
            runtime,
            where,
            profile.runs,
            profile.profiler,
            profile.model_us,
            normalize(profile.layers),
            notes=profile.notes,
        )

    @property
    def layers_us(self) -> float:
        return sum(layer.mean_us for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "runtime": self.runtime, "where": self.where}
        if self.reason is not None:
            data["reason"] = self.reason
        if self.status == "ok":
            coverage = None
            if self.model_us and math.isfinite(self.model_us) and self.model_us > 0:
                coverage = self.layers_us / self.model_us
            data.update(
                profiler=self.profiler,
                runs=self.runs,
                model_us=self.model_us,
                layers_us=self.layers_us,
                coverage=coverage,
                layers=[layer.to_json() for layer in self.layers],
            )
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProfileSection:
        return cls(
            status=str(data["status"]),
            runtime=str(data.get("runtime", "")),
            where=str(data.get("where", "local")),
            runs=int(data.get("runs") or 0),
            profiler=data.get("profiler"),
            model_us=data.get("model_us"),
            layers=tuple(LayerProfile.from_json(layer) for layer in data.get("layers", ())),
            reason=data.get("reason"),
            notes=tuple(data.get("notes", ())),
        )


def profile_runtime(runtime: Any, name: str, inputs: Sequence[Any], runs: int, where: str) -> ProfileSection:
    """Run ``runtime.profile(inputs, runs)`` and turn what it gives (or why it cannot) into the section."""
    try:
        result = runtime.profile(inputs, runs)
    except ProfileUnavailable as exc:
        return ProfileSection("unavailable", name, where, reason=str(exc))
    except Exception as exc:  # a profiler's own failure: recorded, the measured run stays complete
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return ProfileSection("failed", name, where, reason=reason)
    if result is None:
        return ProfileSection("unavailable", name, where, reason=f"runtime {name} cannot profile per layer")
    return ProfileSection.of(name, where, result)


def profile_line(section: ProfileSection) -> str:
    """A short progress line: the top layer and the coverage, or why there is no profile."""
    if section.status != "ok":
        return f"profile {section.status}: {section.reason}"
    top = section.layers[0] if section.layers else None
    parts = [f"{len(section.layers)} layers over {section.runs} runs"]
    if top is not None:
        parts.append(f"top {top.name} ({top.op_type}) {top.mean_us:.1f} us, {top.share:.0%}")
    if section.model_us:
        parts.append(f"layers cover {section.layers_us / section.model_us:.0%} of {section.model_us:.1f} us")
    return "; ".join(parts)


#: layers a summary lists
SUMMARY_LAYERS = 5


def profile_summary(section: Mapping[str, Any]) -> dict[str, Any]:
    """The ``profile`` section in short, for ``edgeai bench``'s summary: status, coverage, the top layers."""
    data: dict[str, Any] = {"status": section.get("status"), "where": section.get("where")}
    if section.get("status") != "ok":
        data["reason"] = section.get("reason")
        return data
    data.update(runs=section.get("runs"), model_us=section.get("model_us"), coverage=section.get("coverage"))
    if section.get("notes"):
        data["notes"] = list(section["notes"])
    data["top"] = [
        {k: layer.get(k) for k in ("name", "op_type", "onnx_nodes", "mean_us", "share")}
        for layer in list(section.get("layers") or ())[:SUMMARY_LAYERS]
    ]
    return data


def profile_text(data: Mapping[str, Any]) -> list[str]:
    """Lines for the text summary."""
    if data.get("status") != "ok":
        return [f"profile     {data.get('status')}: {data.get('reason')}"]
    coverage = data.get("coverage")
    lines = [
        f"profile     {data.get('runs')} runs on {data.get('where')}"
        + (f", layers cover {coverage:.0%} of {data.get('model_us') or 0:.1f} us" if coverage else "")
    ]
    for layer in data.get("top") or ():
        nodes = ", ".join(layer.get("onnx_nodes") or ()) or "unknown ONNX node"
        lines.append(
            f"  {layer['mean_us']:>9.1f} us {layer['share']:>4.0%}  {layer['name']} ({layer['op_type']}; {nodes})"
        )
    return lines


__all__ = [
    "DEFAULT_RUNS",
    "MAPPINGS",
    "MAX_REMOTE_RUNS",
    "PROFILE_PARAMS",
    "LayerProfile",
    "ModelProfile",
    "ProfileSection",
    "ProfileUnavailable",
    "mapped",
    "normalize",
    "profile_line",
    "profile_pass",
    "profile_runtime",
    "profile_summary",
    "profile_text",
]


def profile_pass(
    workspace: Any, recorder: Any, target: Any, inputs: Sequence[Any], runs: int
) -> ProfileSection:
    """The runner's profile pass: ask the target (this process or a remote one) and record the section."""
    workspace.stage("profile", f"profiling per layer: {runs} runs")
    section: ProfileSection = target.profile(inputs, runs)
    recorder.set_profile(section)
    workspace.progress.done(profile_line(section))
    return section
