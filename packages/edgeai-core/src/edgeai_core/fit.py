"""The fit check: does a model (its :class:`~edgeai_core.complexity.ModelComplexity`) fit a target profile?

Per target, four questions, each answered from data (no framework is imported here):

- **memory**: RAM needed = weights (unless the target runs them from flash) + peak activations + the runtime's
  own RAM where the profile knows it, against ``ram_bytes``; storage needed = the artifact's files (else the
  weights) + the runtime's code where known, against ``storage_bytes``. Each with its margin in bytes and %.
- **operators**: operators of the model missing from the allow-lists of the target's runtimes (in the model
  format's vocabulary). A target whose every runtime has an allow-list does not fit when none of them has
  every operator.
- **element types**: float (or other) types the model computes in that the target does not (a float model on
  an int8-only accelerator).
- **lower bounds**: when the analysis did not know some operators, its figures are lower bounds; said once.

The verdict is one line per target: ``fits`` or ``does not fit: needs 3.4 MiB RAM, has 256 KiB (-3.2 MiB)``.
:func:`analyze_artifact` finds the analyzer for an artifact's format through the plugin host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgeai_core.complexity import ModelComplexity
from edgeai_core.errors import EdgeaiError, UsageError
from edgeai_core.targetprofiles import TargetProfile, format_bytes

if TYPE_CHECKING:
    from edgeai_core.artifacts import Artifact
    from edgeai_core.plugins import PluginHost

#: The element types whose use on a target that lacks them makes a model not fit (index types never do).
CHECKED_DTYPES = ("float64", "float32", "float16", "bfloat16", "int16", "int8", "uint8")
#: Where the analyzer of a format comes from, for the one-line "install" message.
ANALYZER_DISTRIBUTIONS = {"onnx": "edgeai-onnx"}


class NoAnalyzerError(EdgeaiError):
    """No installed analyzer reads the artifact's format; the message names what to install."""


class FitRefused(UsageError):
    """A pipeline's model does not fit its named target profile (and ``--force`` was not given): exit 2."""


# -- analysis ----------------------------------------------------------------------------------------------


def analyze_artifact(host: PluginHost, artifact: Artifact) -> ModelComplexity:
    """The complexity of ``artifact`` from the analyzer registered for its format (the one named like the
    format first, then by name). :class:`NoAnalyzerError` in one line naming the pip install when none is."""
    from edgeai_core.records import AnalyzerRecord

    fmt = artifact.format
    found = sorted(
        (r for r in host.records("analyzer") if isinstance(r, AnalyzerRecord) and fmt in r.formats),
        key=lambda r: (r.name != fmt, r.name),
    )
    if not found:
        distribution = ANALYZER_DISTRIBUTIONS.get(fmt)
        known = host.known_component(fmt, ("analyzer",))
        if known is not None:
            distribution = known.requirement
        install = (
            f": pip install {distribution}"
            if distribution
            else " (`edgeai list analyzer` shows those that are)"
        )
        raise NoAnalyzerError(
            f"no analyzer for {fmt} artifacts is installed, so the fit was not checked{install}"
        )
    record = found[0]
    analyzer = record.create({}, where=f"analyzer {record.name}")
    result = analyzer.analyze(artifact)
    if not isinstance(result, ModelComplexity):
        raise EdgeaiError(
            f"{record.qualified_name}: analyze() returned {type(result).__name__}, not ModelComplexity"
        )
    return result


# -- records -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryFit:
    """One memory (``ram`` or ``storage``): what the model needs, by part, against what the target has.

    ``parts``: ``{"weights": n, "activations": n, "runtime": n, "model file": n}``, the counted parts;
    ``uncounted`` names the parts with no known figure (``runtime``)."""

    memory: str
    needed_bytes: int
    available_bytes: int
    parts: Mapping[str, int] = field(default_factory=dict)
    uncounted: tuple[str, ...] = ()

    @property
    def margin_bytes(self) -> int:
        return self.available_bytes - self.needed_bytes

    @property
    def margin_percent(self) -> float:
        return 100.0 * self.margin_bytes / self.available_bytes

    @property
    def fits(self) -> bool:
        return self.margin_bytes >= 0

    @property
    def label(self) -> str:
        return "RAM" if self.memory == "ram" else "storage"

    def describe(self) -> str:
        """``2.1 MiB of 256 KiB RAM: weights 1.9 MiB + activations 200 KiB; margin -1.9 MiB (-740.2%)``."""
        parts = " + ".join(f"{k} {format_bytes(v)}" for k, v in self.parts.items()) or "nothing counted"
        line = (
            f"{format_bytes(self.needed_bytes)} of {format_bytes(self.available_bytes)} {self.label}: {parts}; "
            f"margin {format_bytes(self.margin_bytes)} ({self.margin_percent:.1f}%)"
        )
        if self.uncounted:
            line += f"; not counted (no figure): {', '.join(self.uncounted)}"
        return line

    def shortfall(self) -> str:
        """``needs 3.4 MiB RAM, has 256 KiB (-3.2 MiB)``."""
        return (
            f"needs {format_bytes(self.needed_bytes)} {self.label}, has {format_bytes(self.available_bytes)} "
            f"({format_bytes(self.margin_bytes)})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "memory": self.memory,
            "needed_bytes": self.needed_bytes,
            "available_bytes": self.available_bytes,
            "margin_bytes": self.margin_bytes,
            "margin_percent": round(self.margin_percent, 3),
            "fits": self.fits,
            "parts": dict(self.parts),
            "uncounted": list(self.uncounted),
        }


@dataclass(frozen=True)
class TargetFit:
    """The fit of one model on one target profile. ``fits`` is None when it could not be checked (``reasons``
    then holds why, e.g. no analyzer is installed)."""

    target: str
    fits: bool | None
    reasons: tuple[str, ...] = ()
    ram: MemoryFit | None = None
    storage: MemoryFit | None = None
    #: per runtime with an allow-list in the model's vocabulary: the operators it lacks
    missing_operators: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: element types the model computes in that the target does not, with the number of layers using each
    unsupported_dtypes: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    lower_bound: bool = False
    #: where the check ran in a pipeline: ``planning`` (the model file) or ``artifact`` (the final artifact)
    stage: str | None = None
    #: the model analysed: format, analyzer, params, MACs, weight and activation bytes
    model: Mapping[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """One line: ``fits (RAM margin 4.0 GiB, 99.6%)`` or ``does not fit: needs ... (-3.2 MiB); ...``."""
        if self.fits is None:
            return "not checked: " + "; ".join(self.reasons)
        if not self.fits:
            return "does not fit: " + "; ".join(self.reasons)
        text = "fits"
        if self.ram is not None:
            text += f" (RAM margin {format_bytes(self.ram.margin_bytes)}, {self.ram.margin_percent:.1f}%)"
        if self.lower_bound:
            text += ", figures are lower bounds"
        return text

    def details(self) -> list[str]:
        """The lines under the verdict: each memory, operators, element types, notes."""
        lines = []
        if self.ram is not None:
            lines.append(f"ram: {self.ram.describe()}")
        if self.storage is not None:
            lines.append(f"storage: {self.storage.describe()}")
        for runtime, missing in self.missing_operators.items():
            lines.append(
                f"operators ({runtime}): " + (f"lacks {', '.join(missing)}" if missing else "all supported")
            )
        for dtype, layers in self.unsupported_dtypes.items():
            lines.append(f"dtypes: {dtype} in {layers} layer(s), which the target does not compute in")
        lines += [f"note: {note}" for note in self.notes]
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "fits": self.fits,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "ram": None if self.ram is None else self.ram.to_json(),
            "storage": None if self.storage is None else self.storage.to_json(),
            "missing_operators": {k: list(v) for k, v in self.missing_operators.items()},
            "unsupported_dtypes": dict(self.unsupported_dtypes),
            "notes": list(self.notes),
            "lower_bound": self.lower_bound,
            "stage": self.stage,
            "model": dict(self.model),
        }

    @classmethod
    def unchecked(cls, target: str, reason: str, stage: str | None = None) -> TargetFit:
        return cls(target=target, fits=None, reasons=(reason,), stage=stage)


# -- the check ---------------------------------------------------------------------------------------------


def _runtime_overhead(
    figures: Mapping[str, int], profile: TargetProfile, runtime: str | None
) -> tuple[int | None, str | None]:
    """The runtime's figure: the given runtime's, else the profile's only runtime's, else the smallest."""
    if runtime and runtime in figures:
        return figures[runtime], runtime
    if len(profile.runtimes) == 1 and profile.runtimes[0] in figures:
        return figures[profile.runtimes[0]], profile.runtimes[0]
    if figures and not runtime:
        name = min(figures, key=lambda k: figures[k])
        return figures[name], name
    return None, None


def _memory(memory: str, available: int, parts: dict[str, int | None]) -> MemoryFit:
    counted = {k: v for k, v in parts.items() if v is not None}
    uncounted = tuple(k for k, v in parts.items() if v is None)
    return MemoryFit(memory, sum(counted.values()), available, counted, uncounted)


def model_summary(complexity: ModelComplexity) -> dict[str, Any]:
    return {
        "format": complexity.format,
        "analyzer": complexity.analyzer,
        "params": complexity.params,
        "macs": complexity.macs,
        "weight_bytes": complexity.total_weight_bytes,
        "peak_activation_bytes": complexity.peak_activation_bytes,
        "unknown_ops": list(complexity.unknown_ops),
    }


def check_fit(
    complexity: ModelComplexity,
    profile: TargetProfile,
    *,
    artifact_bytes: int | None = None,
    runtime: str | None = None,
    stage: str | None = None,
) -> TargetFit:
    """The fit of the analysed model on ``profile``. ``artifact_bytes``: the artifact's size on disk (the
    storage it takes; else its weights are counted). ``runtime``: the runtime it will run in, where known."""
    reasons: list[str] = []
    notes: list[str] = []

    # memory
    runtime_ram, ram_runtime = _runtime_overhead(profile.runtime_ram_bytes, profile, runtime)
    weights = complexity.total_weight_bytes
    ram_parts: dict[str, int | None] = {}
    if profile.weights_in == "ram":
        ram_parts["weights"] = weights
    else:
        notes.append("weights stay in flash on this target (weights_in = flash): RAM holds the activations")
    ram_parts["activations"] = complexity.peak_activation_bytes
    ram_parts[f"runtime {ram_runtime}" if ram_runtime else "runtime"] = runtime_ram
    ram = _memory("ram", profile.ram_bytes, ram_parts)
    if not ram.fits:
        reasons.append(ram.shortfall())
    storage = None
    if profile.storage_bytes is not None:
        runtime_code, code_runtime = _runtime_overhead(profile.runtime_storage_bytes, profile, runtime)
        model_part = "model file" if artifact_bytes is not None else "weights"
        storage = _memory(
            "storage",
            profile.storage_bytes,
            {
                model_part: artifact_bytes if artifact_bytes is not None else weights,
                f"runtime {code_runtime}" if code_runtime else "runtime": runtime_code,
            },
        )
        if not storage.fits:
            reasons.append(storage.shortfall())

    # operators
    missing_by_runtime: dict[str, tuple[str, ...]] = {}
    ops = set(complexity.op_types)
    vocabularies: set[str] = set()
    for rt, lists in profile.operators.items():
        vocabularies.update(lists)
        allowed = lists.get(complexity.format)
        if allowed is not None:
            missing_by_runtime[rt] = tuple(sorted(ops - set(allowed)))
    if profile.operators and not missing_by_runtime:
        notes.append(
            f"operators not checked: the allow-lists name {', '.join(sorted(vocabularies))} operators, "
            f"the model is {complexity.format}"
        )
    runtimes = profile.runtimes or tuple(profile.operators)
    unlisted = [rt for rt in runtimes if rt not in missing_by_runtime]
    if missing_by_runtime and not unlisted and all(missing_by_runtime.values()):
        for rt, missing in missing_by_runtime.items():
            reasons.append(f"{rt} lacks {len(missing)} operator(s): {', '.join(missing)}")
    elif any(missing_by_runtime.values()):
        notes.append("some runtimes lack operators of the model, others run it")

    # element types
    unsupported: dict[str, int] = {}
    for dtype in complexity.dtypes:
        if dtype in CHECKED_DTYPES and dtype not in profile.dtypes:
            unsupported[dtype] = sum(1 for layer in complexity.layers if dtype in layer.dtypes)
    if unsupported:
        layers = len(complexity.layers)
        used = ", ".join(
            f"{d}" + (f" (in {n} of {layers} layers)" if layers else "") for d, n in unsupported.items()
        )
        reasons.append(f"computes in {used}; the target computes in {', '.join(profile.dtypes)} only")
        if {"QuantizeLinear", "DequantizeLinear"} & ops:
            notes.append(
                "the model is quantized with QuantizeLinear/DequantizeLinear pairs: the float tensors between them "
                "become integer ones when it is converted for the target; check the converted artifact"
            )

    # formats and lower bounds
    if profile.formats and complexity.format not in profile.formats:
        notes.append(
            f"the target's runtimes load {', '.join(profile.formats)}: convert the {complexity.format} model "
            "first (sizes change a little)"
        )
    if complexity.lower_bound:
        notes.append(
            f"the analysis does not know {', '.join(complexity.unknown_ops)}: its figures are lower bounds"
        )
    return TargetFit(
        target=profile.name,
        fits=not reasons,
        reasons=tuple(reasons),
        ram=ram,
        storage=storage,
        missing_operators=missing_by_runtime,
        unsupported_dtypes=unsupported,
        notes=tuple(notes),
        lower_bound=complexity.lower_bound,
        stage=stage,
        model=model_summary(complexity),
    )


def check_targets(
    complexity: ModelComplexity,
    profiles: Iterable[TargetProfile],
    *,
    artifact_bytes: int | None = None,
    runtime: str | None = None,
) -> list[TargetFit]:
    return [check_fit(complexity, p, artifact_bytes=artifact_bytes, runtime=runtime) for p in profiles]


def all_fit(fits: Sequence[TargetFit]) -> bool:
    return all(f.fits is not False for f in fits)


__all__ = [
    "ANALYZER_DISTRIBUTIONS",
    "CHECKED_DTYPES",
    "FitRefused",
    "MemoryFit",
    "NoAnalyzerError",
    "TargetFit",
    "all_fit",
    "analyze_artifact",
    "check_fit",
    "check_targets",
    "model_summary",
]
