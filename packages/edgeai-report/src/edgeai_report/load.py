"""Reading measurement documents (``results.json``) into :class:`Run` objects the report renders.

Every input is checked before anything is drawn, and a bad one stops the report with one line naming the file
and the field: a report that silently skipped a run would compare the wrong things. Documents are validated
against the JSON Schema the core ships (``edgeai_core/schemas/results.schema.json``, the contract the core's
typed sections in :mod:`edgeai_core.document` follow), plus what a schema cannot say (a confusion matrix
as wide as the class count). A progress file (``results.partial.jsonl``) left by a crashed run is accepted too: it is
rebuilt with :func:`edgeai_core.measurement.recover_partial` and rendered as an interrupted run.

Large arrays (latency samples, resource series) are checked with numpy rather than by the schema validator,
element by element, which is what keeps loading 8 runs of 10,000 samples well under a second.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import UsageError

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
PARTIAL_FILE = "results.partial.jsonl"
SUPPORTED_MAJOR = 1
STATUSES = ("running", "complete", "failed", "interrupted")

#: Stages of the road to the edge, in the order the per-stage deltas are drawn.
STAGE_ORDER = ("float", "quantized", "compiled", "quantized+compiled")
_QUANT_HINT = re.compile(r"quant|int8|uint8|int4|fp16|float16|half|bf16", re.IGNORECASE)


class ReportInputError(UsageError):
    """A results file is missing, unreadable or not an edgeai measurement document (exit code 2)."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)


@dataclass
class Latency:
    """One side's latency (host round trips, or the target's own inference times), in nanoseconds."""

    samples_ns: np.ndarray
    warmup_ns: np.ndarray
    stats: dict[str, Any] | None
    #: True when the file had no ``stats`` (an unfinished run) and the report computed them
    stats_computed: bool = False
    partial: bool = False
    stop_reason: str | None = None
    wall_s: float | None = None
    throughput_per_s: float | None = None
    batch_size: int | None = None
    source: str | None = None

    @property
    def median(self) -> float | None:
        return None if not self.stats else float(self.stats["median"])


@dataclass
class Series:
    """A resource time series (one side: host or target); missing readings are NaN."""

    t_s: np.ndarray
    cpu_percent: np.ndarray
    rss_bytes: np.ndarray
    system_cpu_percent: np.ndarray
    interval_s: float | None
    summary: dict[str, Any]
    #: ``{"probe/metric": values}`` from plugin probes (GPU load, power)
    probes: dict[str, np.ndarray] = field(default_factory=dict)
    probe_errors: dict[str, str] = field(default_factory=dict)

    def has_data(self) -> bool:
        arrays = [self.cpu_percent, self.rss_bytes, *self.probes.values()]
        return len(self.t_s) > 0 and any(np.isfinite(a).any() for a in arrays)


@dataclass
class Run:
    """One measurement document and the facts the report derives from it."""

    path: Path
    name: str
    doc: dict[str, Any]
    latency: Latency | None
    target_latency: Latency | None
    host_resources: Series | None
    target_resources: Series | None
    #: set when the document was rebuilt from a progress file
    recovered: bool = False
    slug: str = ""

    @property
    def status(self) -> str:
        return str(self.doc.get("status"))

    @property
    def error(self) -> dict[str, Any] | None:
        error = self.doc.get("error")
        return error if isinstance(error, dict) else None

    @property
    def quality(self) -> dict[str, Any] | None:
        quality = self.doc.get("quality")
        return quality if isinstance(quality, dict) else None

    @property
    def classification(self) -> dict[str, Any] | None:
        """The quality block when it holds applicable classification metrics."""
        quality = self.quality
        if quality and quality.get("applicable") and quality.get("task") == "classification":
            return quality
        return None

    @property
    def task(self) -> str | None:
        quality = self.quality
        if quality and quality.get("task"):
            return str(quality["task"])
        plan = self.doc.get("plan") or {}
        return (plan.get("dataset") or {}).get("task") if isinstance(plan, dict) else None

    @property
    def accuracy(self) -> float | None:
        cls = self.classification
        return None if cls is None else float(cls["accuracy"])

    @property
    def primary(self) -> tuple[str, float] | None:
        """(metric, value) that stands for the run's quality: accuracy, map or miou (edgeai_core.tasks)."""
        from edgeai_core.api import primary_metric

        found = primary_metric(self.quality)
        return None if found is None or found[1] < 0 else found  # COCO's -1: nothing to average

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [s for s in self.doc.get("steps") or [] if isinstance(s, dict)]

    @property
    def final_artifact(self) -> dict[str, Any] | None:
        """The artifact the runtime ran: the runtime-load step's, else the last step's that has one."""
        with_artifact = [s for s in self.steps if s.get("artifact")]
        loads = [s for s in with_artifact if s.get("kind") == "runtime-load"]
        chosen = loads[-1] if loads else (with_artifact[-1] if with_artifact else None)
        return None if chosen is None else dict(chosen["artifact"])

    @property
    def size_bytes(self) -> int | None:
        artifact = self.final_artifact
        return None if artifact is None else int(artifact["size_bytes"])

    def component(self, section: str) -> str | None:
        """Name of the dataset, model, runtime or target protocol from the plan (else the config)."""
        plan = self.doc.get("plan") or {}
        entry = plan.get(section) if isinstance(plan, dict) else None
        if isinstance(entry, dict) and entry.get("name"):
            return str(entry["name"])
        config = (self.doc.get("provenance") or {}).get("config") or {}
        entry = config.get(section) if isinstance(config, dict) else None
        if isinstance(entry, dict):
            name = entry.get("name") or entry.get("protocol")
            return None if name is None else str(name)
        return None

    @property
    def failed_stage(self) -> str:
        """Where an unfinished run stopped; inferred from the data when the file says ``unknown``."""
        stage = str((self.error or {}).get("stage") or "unknown")
        if stage != "unknown":
            return stage
        if (
            self.latency is not None and (self.latency.samples_ns.size or self.latency.warmup_ns.size)
        ) or any(s.get("kind") == "runtime-load" for s in self.steps):
            inferred = "benchmark"
        elif self.steps:
            inferred = f"after step '{self.steps[-1].get('name')}'"
        else:
            return stage
        return f"{inferred} (inferred from the recorded data)"

    @property
    def road(self) -> str:
        """``model (format) -> step -> step on runtime [via protocol]``."""
        chain = self.chain
        runtime = self.component("runtime")
        steps = chain[:-1] if runtime and chain else chain
        text = " -> ".join(steps) or "-"
        return f"{text} on {chain[-1]}" if runtime and chain else text

    @property
    def chain(self) -> list[str]:
        """The road the model took: model format, then each compiler/converter, then the runtime."""
        parts: list[str] = []
        for step in self.steps:
            kind = step.get("kind")
            if kind == "model":
                parts.append(f"{step.get('name')} ({step.get('output_format') or '?'})")
            elif kind in ("compiler", "converter"):
                label = str(step.get("name"))
                mode = ((step.get("metadata") or {}).get("mode")) if kind == "compiler" else None
                parts.append(f"{label} ({mode})" if mode else label)
        runtime = self.component("runtime")
        if runtime:
            target = self.component("target")
            parts.append(f"{runtime} via {target}" if target else runtime)
        return parts

    @property
    def stage(self) -> str:
        """``float``, ``quantized``, ``compiled`` or ``quantized+compiled``, from the compiler steps.

        A compiler counts as quantizing when its name or its recorded mode says so (``onnx-quantize``,
        ``weight-int8``, ``mode = "float16"``), and as compiling when it changes the artifact's format (ONNX
        to a TVM library). Converters only move between formats and count as neither.
        """
        quantized = compiled = False
        compilers = [s for s in self.steps if s.get("kind") == "compiler"]
        planned = [s for s in ((self.doc.get("plan") or {}).get("steps") or []) if isinstance(s, dict)]
        if not compilers:  # a run that failed before its steps finished still says what it meant to do
            compilers = [s for s in planned if s.get("kind") == "compiler"]
        for step in compilers:
            hints = [str(step.get("name"))]
            for source in (step.get("metadata"), step.get("params")):
                if isinstance(source, dict):
                    hints += [str(source.get(k)) for k in ("mode", "quantization", "dtype") if source.get(k)]
            if any(_QUANT_HINT.search(h) for h in hints):
                quantized = True
            else:
                compiled = True
            if step.get("input_format") and step.get("input_format") != step.get("output_format"):
                compiled = True
        if quantized and compiled:
            return "quantized+compiled"
        return "quantized" if quantized else "compiled" if compiled else "float"

    @property
    def family(self) -> tuple[str, str | None]:
        """Runs of one dataset (with its settings) and one model: per-stage deltas compare within a family.

        The dataset's settings count (37 classes of blobs is another problem than 4); the model's do not, as
        a quantized variant may record other steps' parameters.
        """
        plan = self.doc.get("plan") or {}
        config = (self.doc.get("provenance") or {}).get("config") or {}
        entry = (plan.get("dataset") if isinstance(plan, dict) else None) or {}
        params = entry.get("params") if isinstance(entry, dict) else None
        if params is None:
            raw = config.get("dataset") if isinstance(config, dict) else None
            params = {k: v for k, v in raw.items() if k != "name"} if isinstance(raw, dict) else {}
        dataset = self.component("dataset") or "synthetic inputs"
        settings = json.dumps(params, sort_keys=True, default=str)
        return f"{dataset} {settings}", self.component("model")


# -- reading -----------------------------------------------------------------------------------------------


def resolve_input(path: Path) -> Path:
    """A results file, or a run folder holding ``results.json`` (or only a progress file)."""
    if path.is_dir():
        for name in (RESULTS_FILE, PARTIAL_FILE):
            if (path / name).is_file():
                return path / name
        raise ReportInputError(
            path,
            f"folder holds no {RESULTS_FILE} (nor {PARTIAL_FILE}); pass the output folder of `edgeai run`",
        )
    if not path.exists():
        raise ReportInputError(
            path, "no such file; pass results.json files written by `edgeai run` or `edgeai demo`"
        )
    if not path.is_file():
        raise ReportInputError(path, "not a regular file")
    return path


def read_document(path: Path) -> tuple[dict[str, Any], bool]:
    """Parse one results file; returns the document and whether it was rebuilt from a progress file."""
    path = resolve_input(path)
    if path.name.endswith(".jsonl"):
        from edgeai_core.api import recover_partial

        try:
            return recover_partial(path), True
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReportInputError(path, f"cannot rebuild a run from this progress file: {exc}") from exc
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(path, f"cannot read: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    return doc, False


def load_runs(paths: Sequence[Path | str], names: Sequence[str] | None = None) -> list[Run]:
    """Read, validate and interpret every file; the first bad one raises :class:`ReportInputError`."""
    if not paths:
        raise UsageError("no results files given; pass one or more results.json files")
    if names is not None and len(names) != len(paths):
        raise UsageError(f"--names: got {len(names)} names for {len(paths)} results files; give one per file")
    runs = []
    for i, raw in enumerate(paths):
        path = Path(raw)
        doc, recovered = read_document(path)
        validate_document(doc, path)
        name = names[i] if names is not None else str(doc.get("name") or path.parent.name or path.stem)
        runs.append(build_run(path, doc, name, recovered=recovered))
    _unique_names(runs)
    return runs


def _unique_names(runs: list[Run]) -> None:
    """Runs may share a name (two runs of one config): keep them apart with a suffix, and give slugs."""
    seen: dict[str, int] = {}
    slugs: set[str] = set()
    for run in runs:
        count = seen.get(run.name, 0)
        seen[run.name] = count + 1
        if count:
            run.name = f"{run.name} ({count + 1})"
        base = re.sub(r"[^a-z0-9]+", "-", run.name.lower()).strip("-") or "run"
        slug, k = base, 2
        while slug in slugs:
            slug, k = f"{base}-{k}", k + 1
        slugs.add(slug)
        run.slug = slug


def build_run(path: Path, doc: dict[str, Any], name: str, *, recovered: bool = False) -> Run:
    latency = doc.get("latency")
    resources = doc.get("resources") or {}
    return Run(
        path=path,
        name=name,
        doc=doc,
        latency=_latency(latency) if isinstance(latency, dict) else None,
        target_latency=(
            _latency(latency["target"])
            if isinstance(latency, dict) and isinstance(latency.get("target"), dict)
            else None
        ),
        host_resources=_series(resources.get("host")),
        target_resources=_series(resources.get("target")),
        recovered=recovered,
    )


def _int_array(values: Any) -> np.ndarray:
    if not values:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(values, dtype=np.int64)


def _float_array(values: Any) -> np.ndarray:
    if not values:
        return np.zeros(0, dtype=float)
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _latency(section: dict[str, Any]) -> Latency | None:
    samples = _int_array(section.get("samples_ns"))
    warmup = _int_array((section.get("warmup") or {}).get("samples_ns"))
    stats = section.get("stats")
    computed = False
    if not stats and len(samples):
        from edgeai_core.api import latency_stats

        stats, computed = latency_stats(samples.tolist()), True
    if not stats and not len(samples) and not len(warmup):
        return None
    return Latency(
        samples_ns=samples,
        warmup_ns=warmup,
        stats=stats or None,
        stats_computed=computed,
        partial=bool(section.get("partial")),
        stop_reason=section.get("stop_reason"),
        wall_s=section.get("wall_s"),
        throughput_per_s=section.get("throughput_per_s"),
        batch_size=section.get("batch_size"),
        source=section.get("source"),
    )


def _series(section: Any) -> Series | None:
    if not isinstance(section, dict):
        return None
    probes: dict[str, np.ndarray] = {}
    for probe, metrics in (section.get("probes") or {}).items():
        if isinstance(metrics, dict):
            for metric, values in metrics.items():
                if isinstance(values, list):
                    probes[f"{probe}/{metric}"] = _float_array(values)
    return Series(
        t_s=_float_array(section.get("t_s")),
        cpu_percent=_float_array(section.get("cpu_percent")),
        rss_bytes=_float_array(section.get("rss_bytes")),
        system_cpu_percent=_float_array(section.get("system_cpu_percent")),
        interval_s=section.get("interval_s"),
        summary=dict(section.get("summary") or {}),
        probes=probes,
        probe_errors=dict(section.get("probe_errors") or {}),
    )


# -- validation --------------------------------------------------------------------------------------------

#: (path of an array inside the document, element kind) checked with numpy instead of the schema validator
_BIG_ARRAYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("latency", "samples_ns"), "ns"),
    (("latency", "warmup", "samples_ns"), "ns"),
    (("latency", "target", "samples_ns"), "ns"),
    (("latency", "target", "warmup", "samples_ns"), "ns"),
    (("resources", "host", "t_s"), "time"),
    (("resources", "host", "cpu_percent"), "number?"),
    (("resources", "host", "rss_bytes"), "int?"),
    (("resources", "host", "system_cpu_percent"), "number?"),
    (("resources", "target", "t_s"), "time"),
    (("resources", "target", "cpu_percent"), "number?"),
    (("resources", "target", "rss_bytes"), "int?"),
    (("resources", "target", "system_cpu_percent"), "number?"),
)


def validate_document(doc: Any, path: Path) -> None:
    """Raise :class:`ReportInputError` (naming ``path`` and the field) unless ``doc`` is a results document."""
    if not isinstance(doc, dict):
        raise ReportInputError(
            path, f"not an edgeai results document (a JSON {type(doc).__name__}, not an object)"
        )
    version = doc.get("schema_version")
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+", version):
        raise ReportInputError(
            path, "schema_version: missing or malformed; is this a results.json written by `edgeai run`?"
        )
    if int(version.split(".")[0]) != SUPPORTED_MAJOR:
        raise ReportInputError(
            path,
            f"schema_version: {version} is not supported (this edgeai-report reads {SUPPORTED_MAJOR}.x); "
            "install the edgeai-report release that matches the edgeai that wrote it",
        )
    error = _schema_error(_check_big_arrays(doc, path))
    if error is not None:
        raise ReportInputError(path, error)
    # what the schema cannot say: the matrix and per-class lists match the class count
    quality = doc.get("quality")
    if isinstance(quality, dict) and quality.get("applicable") and quality.get("task") == "classification":

        def need(cond: bool, where: str, message: str) -> None:
            if not cond:
                raise ReportInputError(path, f"{where}: {message}")

        _check_classification(quality, need)
    elif isinstance(quality, dict) and quality.get("applicable") and quality.get("task") in VISION_TASKS:
        from edgeai_report.vision import check_quality

        check_quality(quality, lambda cond, where, message: _need(path, cond, where, message))


#: tasks whose quality edgeai_report.vision shows (kept here: vision imports this module)
VISION_TASKS = ("detection", "segmentation")


def _need(path: Path, cond: bool, where: str, message: str) -> None:
    if not cond:
        raise ReportInputError(path, f"{where}: {message}")


def _schema_error(doc: dict[str, Any]) -> str | None:
    """The most relevant schema violation of ``doc`` as ``field: message``, or None when it is valid."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is None:
        return None
    where = _dotted(error.absolute_path) or "(document)"
    return f"{where}: {error.message} (schema results.schema.json)"


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    from edgeai_core.api import load_schema

    schema = load_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _dotted(parts: Sequence[Any] | Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _check_big_arrays(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """Check the large numeric arrays with numpy; return a shallow copy of ``doc`` with them emptied."""
    light = dict(doc)
    for keys, kind in _BIG_ARRAYS:
        parent: Any = light
        chain = []
        for key in keys[:-1]:
            child = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(child, dict):
                parent = None
                break
            child = dict(child)  # copy on the way down: the caller's document stays intact
            parent[key] = child
            chain.append(key)
            parent = child
        if not isinstance(parent, dict) or keys[-1] not in parent:
            continue
        values = parent[keys[-1]]
        field_name = ".".join(keys)
        if not isinstance(values, list):
            raise ReportInputError(path, f"{field_name}: must be a list, got {type(values).__name__}")
        _check_numbers(values, kind, field_name, path)
        parent[keys[-1]] = []
    return light


def _check_numbers(values: list[Any], kind: str, field_name: str, path: Path) -> None:
    nullable = kind.endswith("?")
    bad_type = None
    for i, v in enumerate(values):
        if v is None and nullable:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            bad_type = (i, v)
            break
        if kind in ("ns", "int?") and not isinstance(v, int):
            bad_type = (i, v)
            break
    if bad_type is not None:
        expected = "an integer" if kind in ("ns", "int?") else "a number"
        raise ReportInputError(
            path,
            f"{field_name}[{bad_type[0]}]: must be {expected}{' or null' if nullable else ''}, got {bad_type[1]!r}",
        )
    if kind in ("ns", "time") and values:
        arr = np.asarray(values, dtype=float)
        negative = np.flatnonzero(arr < 0)
        if negative.size:
            i = int(negative[0])
            raise ReportInputError(path, f"{field_name}[{i}]: must be >= 0, got {values[i]!r}")


def _check_classification(quality: Mapping[str, Any], need: Any) -> None:
    n = quality.get("num_classes")
    need(isinstance(n, int) and n >= 1, "quality.num_classes", "must be an integer >= 1")
    matrix = quality.get("confusion_matrix")
    need(
        isinstance(matrix, list)
        and len(matrix) == n
        and all(isinstance(r, list) and len(r) == n for r in matrix),
        "quality.confusion_matrix",
        f"must be a {n}x{n} list of lists",
    )
    accuracy = quality.get("accuracy")
    need(isinstance(accuracy, (int, float)) and 0 <= accuracy <= 1, "quality.accuracy", "must be in [0, 1]")
    per_class = quality.get("per_class")
    need(isinstance(per_class, dict), "quality.per_class", "must be an object")
    for key in ("precision", "sensitivity"):
        values = (per_class or {}).get(key)
        need(
            isinstance(values, list) and len(values) == n, f"quality.per_class.{key}", f"must list {n} values"
        )
