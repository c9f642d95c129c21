"""The sections of the measurement document (``results.json``) as typed objects.

Each class builds one section, or one entry of a section, and turns it into JSON with ``to_json()``; the runner
and the targets write the document only through them (:class:`edgeai_core.measurement.RunRecorder` holds
them), and ``edgeai_core/schemas/results.schema.json`` is the contract their JSON follows. Readers (the report)
validate against that schema.

Layout: ``schema_version``, ``name``, ``status``, ``error`` (:class:`RunError`), ``provenance``
(:class:`Provenance`, with :class:`TargetDescription` on remote runs), ``plan``, ``steps`` (one of
:data:`Step` each), ``latency`` (:class:`Latency`, with :class:`TargetLatency` on remote runs), ``resources``
(series per side), ``quality`` (:class:`Quality` or :class:`NotApplicable`) and ``fidelity``
(:class:`FidelitySection`, with one :class:`FidelityStep` per compared step; :mod:`edgeai_core.fidelity`).
Optional: ``target_profile`` (:class:`TargetProfileSection`, the profile the numbers belong to) and ``fit``
(:class:`edgeai_core.fit.TargetFit`, when the config names a profile).
(:class:`FidelitySection`, with one :class:`FidelityStep` per compared step; :mod:`edgeai_core.fidelity`);
optionally ``complexity`` (:class:`ComplexitySection`) and ``memory`` (:class:`MemorySection`).
"""

from __future__ import annotations

import traceback as _traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

# the ``instructions`` section (optional): guest instructions per inference on an emulated target
# (edgeai-emulator's ``edgeai target count``; :mod:`edgeai_core.instructions`)
from edgeai_core.instructions import InstructionRun, InstructionsSection  # noqa: F401
from edgeai_core.jsonvalues import attributes

# the ``validity`` section (optional): every check with its threshold, the verdict and its reasons
from edgeai_core.validity import Check as ValidityCheck  # noqa: F401
from edgeai_core.validity import Validity  # noqa: F401

if TYPE_CHECKING:
    from edgeai_core.artifacts import Artifact
    from edgeai_core.benchmark import BenchmarkResult
    from edgeai_core.complexity import ModelComplexity

#: 1.1: remote runs (latency.target, provenance.target, upload steps); 1.2: artifact files, fidelity;
#: 1.3: optional sections target_profile, fit, validity, scenario, complexity, memory, profile, steps' cache,
#: provenance.target isa/emulated, fidelity.cross_architecture (older documents stay valid);
#: 1.4: detection and segmentation quality (quality.primary, examples, postprocess)
SCHEMA_VERSION = "1.4"
STATUSES = ("running", "complete", "failed", "interrupted")


def jsonable(value: Any) -> Any:
    """``value`` with mappings, sequences, paths and numpy scalars turned into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


# -- error -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunError:
    """Why a run did not complete: the runner's stage, the exception's type and message, a traceback."""

    stage: str
    type: str
    message: str
    traceback: str | None = None

    @classmethod
    def from_exception(cls, stage: str, exc: BaseException) -> RunError:
        return cls(stage, type(exc).__name__, str(exc), _traceback.format_exc(limit=20))

    def to_json(self) -> dict[str, Any]:
        data = {"stage": self.stage, "type": self.type, "message": self.message}
        if self.traceback is not None:
            data["traceback"] = self.traceback
        return data


# -- provenance --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetDescription:
    """Remote runs: the target as it described itself (HELLO, STATS) and how it was reached."""

    protocol: str
    address: str
    runtime: str
    software: str
    protocol_version: int
    versions: Mapping[str, str] = field(default_factory=dict)
    machine: Mapping[str, Any] | None = None
    #: the target's instruction set (``platform.machine()`` there) and whether it runs under an emulator
    #: (edgeai_core.emulation); absent when the target did not say
    isa: str | None = None
    emulated: bool | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            **attributes(self, ("protocol", "address", "runtime", "software", "protocol_version")),
            "versions": dict(self.versions),
            "machine": None if self.machine is None else dict(self.machine),
        }
        if self.isa is not None:
            data["isa"] = self.isa
        if self.emulated is not None:
            data["emulated"] = self.emulated
        return data


@dataclass
class Provenance:
    """Who measured what, with which versions, where and when.

    ``machine`` holds the facts of :func:`edgeai_core.measurement.machine_facts` (python, os, cpu, memory,
    hostname); ``frameworks`` and ``target`` are filled in once the runtime is loaded.
    """

    edgeai_version: str
    plugins: Mapping[str, str | None]
    command: str
    config: Mapping[str, Any]
    seed: int
    machine: Mapping[str, Any]
    started_at: str
    frameworks: dict[str, str] = field(default_factory=dict)
    finished_at: str | None = None
    git_sha: str | None = None
    target: TargetDescription | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "edgeai_version": self.edgeai_version,
            "plugins": dict(self.plugins),
            "frameworks": dict(self.frameworks),
            "command": self.command,
            "config": jsonable(self.config),
            "seed": self.seed,
            **self.machine,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "git_sha": self.git_sha,
        }
        if self.target is not None:
            data["target"] = self.target.to_json()
        return data


# -- steps -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactRecord:
    """An artifact as a step records it; ``path`` relative to the run's output folder when inside it.

    ``size_bytes`` counts every file of the artifact; ``files`` (multi-file artifacts only, schema 1.2) lists
    the model file then each companion with its own size.
    """

    path: str
    format: str
    size_bytes: int
    files: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, artifact: Artifact, root: Path | None = None) -> ArtifactRecord:
        path = artifact.path
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        size = artifact.size_bytes  # an ArtifactError naming a missing companion
        files: tuple[tuple[str, int], ...] = ()
        if artifact.files:
            names = (artifact.path.name, *artifact.files)
            files = tuple((n, p.stat().st_size) for n, p in zip(names, artifact.all_files, strict=True))
        return cls(str(path), artifact.format, size, files)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "format": self.format, "size_bytes": self.size_bytes}
        if self.files:
            data["files"] = [{"name": n, "size_bytes": size} for n, size in self.files]
        return data


@dataclass(frozen=True)
class DatasetStep:
    """The dataset was prepared (it makes no artifact)."""

    name: str
    duration_s: float
    kind: ClassVar[str] = "dataset"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "duration_s": self.duration_s, "artifact": None}


@dataclass(frozen=True)
class ArtifactStep:
    """A model, compiler or converter made an artifact (``input_format`` is None for the model)."""

    name: str
    kind: str
    duration_s: float
    artifact: ArtifactRecord
    io: Mapping[str, Any]
    metadata: Mapping[str, Any]
    input_format: str | None = None
    output_format: str | None = None
    inserted: bool = False
    #: ``{"key", "hit"}`` when a step cache made or reused the artifact (:mod:`edgeai_core.stepcache`)
    cache: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            **attributes(self, ("name", "kind", "inserted", "duration_s", "input_format", "output_format")),
            "artifact": self.artifact.to_json(),
            "io": jsonable(self.io),
            "metadata": jsonable(self.metadata),
        }
        if self.cache is not None:
            out["cache"] = dict(self.cache)
        return out


@dataclass(frozen=True)
class RuntimeLoadStep:
    """The final artifact was loaded into the runtime (on a target: ``metadata`` says where)."""

    name: str
    duration_s: float
    artifact: ArtifactRecord
    metadata: Mapping[str, Any] | None = None
    kind: ClassVar[str] = "runtime-load"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "duration_s": self.duration_s,
            "artifact": self.artifact.to_json(),
        }
        if self.metadata is not None:
            data["metadata"] = jsonable(self.metadata)
        return data


@dataclass(frozen=True)
class UploadStep:
    """Remote runs: the final artifact was sent to the target (``name`` is the protocol)."""

    name: str
    duration_s: float
    artifact: ArtifactRecord
    bytes: int
    metadata: Mapping[str, Any]
    kind: ClassVar[str] = "upload"

    @property
    def throughput_bytes_per_s(self) -> float | None:
        return self.bytes / self.duration_s if self.duration_s > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "duration_s": self.duration_s,
            "artifact": self.artifact.to_json(),
            "bytes": self.bytes,
            "throughput_bytes_per_s": self.throughput_bytes_per_s,
            "metadata": jsonable(self.metadata),
        }


Step = DatasetStep | ArtifactStep | RuntimeLoadStep | UploadStep

# -- latency -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetLatency:
    """Remote runs: the target's own inference time for each host-timed call, in the host's order."""

    warmup_ns: Sequence[int]
    samples_ns: Sequence[int]
    source: str = "target runtime's infer() call, timed on the target"

    def to_json(self) -> dict[str, Any]:
        from edgeai_core.stats import latency_stats

        return {
            "unit": "ns",
            "source": self.source,
            "warmup": {"count": len(self.warmup_ns), "samples_ns": list(self.warmup_ns)},
            "samples_ns": list(self.samples_ns),
            "stats": latency_stats(list(self.samples_ns)),
        }


@dataclass(frozen=True)
class Latency:
    """The benchmark's samples, statistics and settings (host-timed), and the target's times if remote."""

    result: BenchmarkResult
    target: TargetLatency | None = None

    def to_json(self) -> dict[str, Any]:
        data = self.result.to_json()
        if self.target is not None:
            data["target"] = self.target.to_json()
        return data


@dataclass(frozen=True)
class PartialLatency:
    """The samples of a run that did not finish its benchmark (marked ``partial``); per side and phase."""

    warmup_ns: Sequence[int]
    samples_ns: Sequence[int]
    target: PartialLatency | None = None

    def to_json(self) -> dict[str, Any]:
        section: dict[str, Any] = {
            "unit": "ns",
            "partial": True,
            "warmup": {"count": len(self.warmup_ns), "samples_ns": list(self.warmup_ns)},
            "samples_ns": list(self.samples_ns),
        }
        if self.samples_ns:
            from edgeai_core.stats import latency_stats

            section["stats"] = latency_stats(list(self.samples_ns))
        if self.target is not None:
            section["target"] = self.target.to_json()
        return section


# -- quality -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quality:
    """What the dataset's ``evaluate`` returned for the evaluated split (task-specific keys)."""

    metrics: Mapping[str, Any]
    split: str

    def to_json(self) -> dict[str, Any]:
        data = jsonable(self.metrics)
        data.setdefault("split", self.split)
        return data


@dataclass(frozen=True)
class NotApplicable:
    """Quality was not measured, and why."""

    task: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "applicable": False, "reason": self.reason}


#: a resource time series (``interval_s``, ``t_s``, ``cpu_percent``, ``rss_bytes``...), as the sampler gives it
Series = Mapping[str, Any]


# -- fidelity ----------------------------------------------------------------------------------------------


#: where a fidelity entry ran: its step, the step's kind, the artifact's format and the runtime
_WHERE = ("step", "kind", "format", "runtime")
#: the summary of a step's outputs against the reference's (fields of FidelityStep and of the comparison)
COMPARISON_FIELDS = (
    "samples", "max_abs_diff", "mean_abs_diff", "relative_error", "cosine_similarity", "top1_agreement"
)  # fmt: skip


@dataclass(frozen=True)
class FidelityReference:
    """What the steps are compared with: a step's artifact (the model's, unless no runtime loads its format;
    ``note`` then says why another) run in ``runtime``."""

    step: str
    kind: str
    format: str
    runtime: str
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = attributes(self, _WHERE)
        if self.note is not None:
            data["note"] = self.note
        return data


@dataclass(frozen=True)
class FidelityStep:
    """One step's (or the final runtime's) outputs against the reference's on the same inputs.

    ``status``: ``ok``, ``over_tolerance`` (``violations`` name each metric over its bound), ``reference``
    (this step's artifact became the reference), ``skipped`` or ``failed`` (``reason`` says why).
    """

    step: str
    kind: str
    format: str
    runtime: str | None
    status: str
    precision: str
    reason: str | None = None
    samples: int | None = None
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    relative_error: float | None = None
    cosine_similarity: float | None = None
    top1_agreement: float | None = None
    judged_by: str | None = None
    violations: tuple[str, ...] = ()
    outputs: tuple[Mapping[str, Any], ...] = ()
    #: per-layer numerics (``fidelity.layers``; :mod:`edgeai_core.layerwise`), None when not asked for
    layers: Mapping[str, Any] | None = None

    @property
    def within_tolerance(self) -> bool | None:
        return None if self.judged_by is None else not self.violations

    def to_json(self) -> dict[str, Any]:
        data = attributes(self, (*_WHERE, "status", "precision"))
        if self.reason is not None:
            data["reason"] = self.reason
        if self.judged_by is not None:
            data.update(attributes(self, (*COMPARISON_FIELDS, "judged_by", "within_tolerance")))
            data.update(violations=list(self.violations), outputs=[jsonable(o) for o in self.outputs])
        if self.layers is not None:
            data["layers"] = jsonable(self.layers)
        return data


@dataclass(frozen=True)
class FidelitySection:
    """The ``fidelity`` section: the policy, the reference, the inputs and one entry per compared step."""

    enabled: bool
    strict: bool = False
    policy: Mapping[str, Any] = field(default_factory=dict)
    reference: FidelityReference | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    steps: Sequence[FidelityStep] = ()

    def to_json(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False, "steps": []}
        return {
            "enabled": True,
            "strict": self.strict,
            "policy": jsonable(self.policy),
            "reference": None if self.reference is None else self.reference.to_json(),
            "inputs": jsonable(self.inputs),
            "steps": [s.to_json() for s in self.steps],
        }


# -- target profile ----------------------------------------------------------------------------------------

#: ``measured``: this machine (the host profile); ``named``: the config's ``[target] profile``; ``remote``: a
#: remote target that no profile describes
PROFILE_ORIGINS = ("measured", "named", "remote")


@dataclass(frozen=True)
class TargetProfileSection:
    """The ``target_profile`` section: which target profile the run's numbers belong to (its fields in
    ``profile``; ``name`` None for a remote target without a profile)."""

    name: str | None
    origin: str
    profile: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, "profile": jsonable(self.profile)}


# -- scenario ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioSection:
    """The ``scenario`` section (offline and server scenarios; :mod:`edgeai_core.scenarios`): the settings,
    how requests ran concurrently (``mode``: threads, serialized or pipelined), one entry per run (one for
    offline and a fixed QPS, one per tried QPS for a search) and the search's bounds and answer."""

    scenario: str
    settings: Mapping[str, Any]
    mode: str
    runs: Sequence[Mapping[str, Any]] = ()
    search: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "settings": jsonable(self.settings),
            "mode": self.mode,
            "runs": [jsonable(r) for r in self.runs],
            "search": None if self.search is None else jsonable(self.search),
        }


# -- complexity and model memory -----------------------------------------------------------------------------

#: layers the ``complexity`` section lists by MACs and by activation memory
TOP_LAYERS = 10


@dataclass(frozen=True)
class ComplexitySection:
    """The ``complexity`` section of results.json (:mod:`edgeai_core.analysis`).

    ``step``: the step (model, compiler or converter) whose artifact was analysed; ``note`` says why it is not
    the final artifact when it is not. ``reason``: why no analysis is available.
    """

    available: bool
    format: str
    reason: str | None = None
    step: str | None = None
    artifact: str | None = None
    note: str | None = None
    result: ModelComplexity | None = None
    layers_file: str | None = None
    top: int = TOP_LAYERS

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"available": self.available, "format": self.format}
        for key in ("reason", "step", "artifact", "note"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        result = self.result
        if result is None:
            return data
        data["summary"] = result.to_json(layers=False)
        data["layer_count"] = len(result.layers)
        data["top_layers"] = {
            key: [layer.to_json() for layer in result.top_layers(key, self.top)]
            for key in ("macs", "activation_bytes")
        }
        if self.layers_file is None:
            data["layers"] = [layer.to_json() for layer in result.layers]
        else:
            data["layers_file"] = self.layers_file
        return data


#: the ``memory`` section's fields (:mod:`edgeai_core.modelmemory`), in order
MEMORY_FIELDS = (
    "where", "load_bytes", "peak_inference_bytes", "before_load_rss_bytes", "after_load_rss_bytes",
    "peak_rss_bytes", "peak_source", "peak_window", "hwm_reset",
)  # fmt: skip


@dataclass(frozen=True)
class MemorySection:
    """The ``memory`` section: the model's own memory in the process that ran the runtime (``where``: host or
    target), apart from the whole-process series in ``resources`` (:mod:`edgeai_core.modelmemory`)."""

    where: str
    load_bytes: int | None
    peak_inference_bytes: int | None
    before_load_rss_bytes: int | None = None
    after_load_rss_bytes: int | None = None
    peak_rss_bytes: int | None = None
    peak_source: str | None = None
    peak_window: str | None = None
    hwm_reset: bool = False
    load_peak_rss_bytes: int | None = None
    process_hwm_bytes: int | None = None
    note: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str | None = None) -> MemorySection:
        known: dict[str, Any] = {
            k: data.get(k) for k in (*MEMORY_FIELDS, "load_peak_rss_bytes", "process_hwm_bytes", "note")
        }
        known["hwm_reset"] = bool(known["hwm_reset"])
        known["where"] = where or str(known["where"] or "host")
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        data = attributes(self, MEMORY_FIELDS)
        for key in ("load_peak_rss_bytes", "process_hwm_bytes", "note"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


# -- profile -----------------------------------------------------------------------------------------------

#: the ``profile`` section (``benchmark.profile``), built in :mod:`edgeai_core.profiling`
from edgeai_core.profiling import LayerProfile as LayerProfile  # noqa: E402
from edgeai_core.profiling import ProfileSection as ProfileSection  # noqa: E402
