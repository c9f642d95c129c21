"""Sweeps: one base pipeline config, axes of values, every combination run, compiled once, on many devices.

A sweep file (TOML, JSON or YAML) holds:

``base``
    the pipeline config every run starts from: a table, or the path of a config file (relative to the sweep file).
``axes``
    ``{"dotted.key": [values...]}``: the runs are the product of the axes, each value set with the same rules as
    ``--set`` (``steps.0.mode``, ``runtime.threads``, ``model.path``...). The axis ``target`` takes names of
    ``[targets.NAME]`` tables (or ``host``, this machine) and sets the run's ``[target]``.
``exclude``
    a list of tables ``{"key": value, ...}``: a combination matching every entry of one of them is dropped.
``include``
    a list of tables of axis values: extra runs added after the product (an axis they omit takes its first value).
``targets``
    ``{NAME: {protocol, host, port, token_file, ...}}``: the devices, as ``[target]`` tables.
``name``
    optional, shown in progress and the report.

Every run gets a stable id from its resolved config (``r-`` and 10 hex digits of a SHA-256), the same for the
same config in any sweep. A run's *device* is its target name (``host`` for runs on this machine): a device
runs one benchmark at a time. A run's *chain* is everything that decides its final artifact (dataset, model,
steps, seed): runs of one chain share the compile, made once through the step cache
(:mod:`edgeai_core.stepcache`).

The sweep folder holds ``sweep.json`` (the plan and each run's status, rewritten atomically after every change),
``runs/<id>/`` (each run's results, as ``edgeai run -o`` writes them), ``compile/<chain>/`` (the compile of each
chain), ``cache/`` (the step cache and its log, unless ``--cache`` names another) and, at the end,
``summary.json`` and ``summary.csv``.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeai_core.config import ConfigError, assign, load_config_file
from edgeai_core.stepcache import canonical

SWEEP_FILE = "sweep.json"
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
HOST = "host"
TARGET_AXIS = "target"
#: config sections that do not change the final artifact: runs differing only there share one chain
RUN_ONLY = ("runtime", "target", "benchmark", "evaluation", "resources", "fidelity", "name")
STATUSES = ("planned", "running", "complete", "failed", "interrupted")
_TOP = ("name", "base", "axes", "exclude", "include", "targets")


class SweepError(ConfigError):
    """A sweep file that cannot be expanded: the message names the file and the entry."""


@dataclass(frozen=True)
class SweepRun:
    """One point of the sweep: its axis values, resolved config, device and chain."""

    id: str
    point: Mapping[str, Any]
    config: Mapping[str, Any]
    device: str
    chain: str

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_short(v)}" for k, v in self.point.items()) or "base"


@dataclass(frozen=True)
class SweepPlan:
    """The expanded sweep: its runs in order, and the devices and chains they use."""

    name: str
    source: str
    axes: Mapping[str, Sequence[Any]]
    runs: tuple[SweepRun, ...]
    targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def devices(self) -> dict[str, list[SweepRun]]:
        out: dict[str, list[SweepRun]] = {}
        for run in self.runs:
            out.setdefault(run.device, []).append(run)
        return out

    @property
    def chains(self) -> dict[str, list[SweepRun]]:
        out: dict[str, list[SweepRun]] = {}
        for run in self.runs:
            out.setdefault(run.chain, []).append(run)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "axes": {k: list(v) for k, v in self.axes.items()},
            "devices": {d: [r.id for r in runs] for d, runs in self.devices.items()},
            "chains": {c: [r.id for r in runs] for c, runs in self.chains.items()},
            "runs": [
                {
                    "id": r.id,
                    "label": r.label,
                    "point": dict(r.point),
                    "device": r.device,
                    "chain": r.chain,
                    "config": r.config,
                }
                for r in self.runs
            ],
        }


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def digest(value: Any, n: int = 10) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()[:n]


def run_id(config: Mapping[str, Any]) -> str:
    """``r-`` and 10 hex digits of the SHA-256 of the resolved config: equal configs, equal ids."""
    return "r-" + digest(config)


def chain_id(config: Mapping[str, Any]) -> str:
    """``c-`` and 10 hex digits over what decides the final artifact (not runtime, target or benchmark)."""
    return "c-" + digest({k: v for k, v in config.items() if k not in RUN_ONLY})


def device_of(config: Mapping[str, Any], target_name: str | None) -> str:
    if target_name is not None:
        return target_name
    target = config.get("target")
    if isinstance(target, Mapping):
        return (
            f"{target.get('protocol', target.get('name', 'tcp'))}:{target.get('host')}:{target.get('port')}"
        )
    return HOST


def load_sweep(path: str | os.PathLike[str]) -> SweepPlan:
    """Read and expand a sweep file; :class:`SweepError` names the file and the entry at fault."""
    path = Path(path)
    data = load_config_file(path)
    return expand(data, path)


def expand(data: Mapping[str, Any], path: Path) -> SweepPlan:
    where = str(path)
    unknown = sorted(set(data) - set(_TOP))
    if unknown:
        raise SweepError(f"{where}: unknown entr{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; a sweep "
                         f"file has {', '.join(_TOP)}")  # fmt: skip
    base = _base(data.get("base"), path)
    targets = _targets(data.get("targets", {}), where)
    axes = _axes(data.get("axes", {}), where, targets)
    excludes = _rules(data.get("exclude", []), "exclude", where, axes)
    includes = _rules(data.get("include", []), "include", where, axes)

    keys = list(axes)
    points: list[dict[str, Any]] = []
    for values in itertools.product(*(axes[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        if not any(all(_same(point.get(k), v) for k, v in rule.items()) for rule in excludes):
            points.append(point)
    for rule in includes:
        points.append(
            {k: rule.get(k, axes[k][0]) for k in keys} | {k: v for k, v in rule.items() if k not in keys}
        )

    runs: list[SweepRun] = []
    seen: dict[str, str] = {}
    for point in points:
        config = copy.deepcopy(dict(base))
        target_name: str | None = None
        for key, value in point.items():
            if key == TARGET_AXIS:
                target_name = str(value)
                if target_name == HOST:
                    config.pop("target", None)
                else:
                    config["target"] = copy.deepcopy(dict(targets[target_name]))
                continue
            assign(config, key, value, f"{where}: axes.{key}")
        rid = run_id(config)
        label = ", ".join(f"{k}={_short(v)}" for k, v in point.items())
        if rid in seen:
            raise SweepError(
                f"{where}: runs '{seen[rid]}' and '{label}' resolve to the same config; remove one (exclude, "
                "or fix the include)"
            )
        seen[rid] = label
        runs.append(SweepRun(rid, point, config, device_of(config, target_name), chain_id(config)))
    if not runs:
        raise SweepError(f"{where}: the axes and excludes leave no run")
    name = str(data.get("name") or path.stem)
    return SweepPlan(name, str(path), axes, tuple(runs), targets)


def _same(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)


def _base(value: Any, path: Path) -> dict[str, Any]:
    if value is None:
        raise SweepError(
            f'{path}: no base; add base = "pipeline.toml" or a [base] table with the pipeline config'
        )
    if isinstance(value, str):
        file = (path.parent / value).resolve()
        return load_config_file(file)
    if not isinstance(value, Mapping):
        raise SweepError(f"{path}: base must be a table or the path of a config file")
    return copy.deepcopy(dict(value))


def _targets(value: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise SweepError(f"{where}: targets must be a table of [targets.NAME] tables")
    out: dict[str, dict[str, Any]] = {}
    for name, table in value.items():
        if name == HOST:
            raise SweepError(f"{where}: targets.{name}: '{HOST}' names this machine; choose another name")
        if not isinstance(table, Mapping) or not table.get("host") or not table.get("port"):
            raise SweepError(f"{where}: targets.{name} needs host and port (and protocol, default tcp)")
        out[str(name)] = {"protocol": "tcp", **dict(table)}
    return out


def _axes(value: Any, where: str, targets: Mapping[str, Any]) -> dict[str, list[Any]]:
    if not isinstance(value, Mapping):
        raise SweepError(f"{where}: axes must be a table of key = [values]")
    out: dict[str, list[Any]] = {}
    for key, values in value.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}: axes.{key} must be a non-empty list of values")
        if key == TARGET_AXIS:
            missing = [v for v in values if v != HOST and v not in targets]
            if missing:
                raise SweepError(
                    f"{where}: axes.target names {', '.join(map(str, missing))}, not in [targets] "
                    f"(known: {', '.join([HOST, *targets])})"
                )
        if len({canonical(v) for v in values}) != len(values):
            raise SweepError(f"{where}: axes.{key} lists a value twice")
        out[str(key)] = list(values)
    return out


def _rules(value: Any, name: str, where: str, axes: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
        raise SweepError(f"{where}: {name} must be a list of tables ([[{name}]] in TOML)")
    for index, rule in enumerate(value):
        if name == "exclude":
            unknown = [k for k in rule if k not in axes]
            if unknown:
                raise SweepError(
                    f"{where}: {name}[{index}] uses {', '.join(unknown)}, not an axis (axes: {', '.join(axes)})"
                )
    return [dict(r) for r in value]


# -- the sweep folder's state ----------------------------------------------------------------------------------


class SweepBook:
    """``sweep.json``: the plan and every run's status, rewritten atomically after each change (thread-safe)."""

    def __init__(self, folder: Path, plan: SweepPlan) -> None:
        import threading

        self.folder = folder
        self.plan = plan
        self.path = folder / SWEEP_FILE
        self._lock = threading.Lock()
        self.state: dict[str, dict[str, Any]] = {
            r.id: {"status": "planned", "attempts": 0, "folder": None, "error": None} for r in plan.runs
        }
        self.compiles: dict[str, dict[str, Any]] = {}

    def load_previous(self) -> dict[str, dict[str, Any]]:
        """Statuses of the runs a previous sweep into this folder recorded (by run id)."""
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return {str(r["id"]): dict(r) for r in data.get("runs", []) if isinstance(r, dict) and "id" in r}

    def update(self, rid: str, **facts: Any) -> None:
        with self._lock:
            self.state[rid].update(facts)
            self._write()

    def compile_update(self, chain: str, **facts: Any) -> None:
        with self._lock:
            self.compiles.setdefault(chain, {}).update(facts)
            self._write()

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = dict.fromkeys(STATUSES, 0)
            for entry in self.state.values():
                out[entry["status"]] += 1
            return out

    def _write(self) -> None:
        from edgeai_core.artifacts import write_json_atomic

        plan = self.plan.to_json()
        for run in plan["runs"]:
            run.update(self.state[run["id"]])
        plan["compiles"] = self.compiles
        plan["counts"] = {s: sum(1 for e in self.state.values() if e["status"] == s) for s in STATUSES}
        write_json_atomic(self.path, plan)

    def write(self) -> None:
        with self._lock:
            self._write()


# -- summary ---------------------------------------------------------------------------------------------------


def run_summary(run: SweepRun, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One run in one flat mapping: its axes, status and the figures a sweep compares."""
    row: dict[str, Any] = {"id": run.id, "device": run.device, "chain": run.chain, **dict(run.point)}
    row.update(status=entry.get("status"), error=entry.get("error"), results=None)
    folder = entry.get("folder")
    doc: dict[str, Any] = {}
    if folder:
        results = Path(folder) / "results.json"
        if results.is_file():
            row["results"] = str(results)
            try:
                doc = json.loads(results.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                doc = {}
    latency = doc.get("latency") or {}
    stats = latency.get("stats") or {}
    quality = doc.get("quality") or {}
    steps = [s for s in doc.get("steps") or [] if s.get("kind") in ("model", "compiler", "converter")]
    final = (steps[-1].get("artifact") or {}) if steps else {}
    row.update(
        accuracy=quality.get("accuracy"),
        p50_ns=stats.get("median", stats.get("p50")),
        p99_ns=stats.get("p99"),
        mean_ns=stats.get("mean"),
        throughput_per_s=latency.get("throughput_per_s"),
        size_bytes=final.get("size_bytes"),
        validity=(doc.get("validity") or {}).get("verdict"),
    )
    return row


def pareto(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Ids of the complete runs no other run beats on accuracy (higher), p50 latency and size (lower) at once."""
    points = [r for r in rows if r.get("status") == "complete" and r.get("p50_ns") is not None]

    def key(r: Mapping[str, Any]) -> tuple[float, float, float]:
        acc = r.get("accuracy")
        return (-(acc if acc is not None else 0.0), float(r["p50_ns"]), float(r.get("size_bytes") or 0))

    front = []
    for r in points:
        mine = key(r)
        beaten = any(
            all(o <= m for o, m in zip(key(other), mine, strict=True)) and key(other) != mine
            for other in points
        )
        if not beaten:
            front.append(str(r["id"]))
    return front


def write_summary(folder: Path, plan: SweepPlan, book: SweepBook) -> tuple[Path, Path, dict[str, Any]]:
    """``summary.json`` (runs, Pareto front per device) and ``summary.csv`` (one row per run, axes as columns)."""
    from edgeai_core.artifacts import write_json_atomic

    rows = [run_summary(run, book.state[run.id]) for run in plan.runs]
    fronts = {device: pareto([r for r in rows if r["device"] == device]) for device in plan.devices}
    summary = {
        "name": plan.name,
        "axes": {k: list(v) for k, v in plan.axes.items()},
        "counts": book.counts(),
        "pareto": fronts,
        "runs": rows,
    }
    json_path = folder / SUMMARY_JSON
    write_json_atomic(json_path, summary)
    columns = _columns(plan.axes, rows)
    csv_path = folder / SUMMARY_CSV
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: ("" if row.get(k) is None else _cell(row.get(k))) for k in columns}
                | {"pareto": "yes" if row["id"] in fronts.get(row["device"], []) else ""}
            )
    return json_path, csv_path, summary


def _cell(value: Any) -> Any:
    return value if isinstance(value, (str, int, float)) else json.dumps(value)


def _columns(axes: Iterable[str], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        "id", *axes, "device", "status", "accuracy", "p50_ns", "p99_ns", "mean_ns", "throughput_per_s",
        "size_bytes", "validity", "pareto", "chain", "results", "error",
    ]  # fmt: skip


__all__ = [
    "SweepBook",
    "SweepError",
    "SweepPlan",
    "SweepRun",
    "chain_id",
    "expand",
    "load_sweep",
    "pareto",
    "run_id",
    "run_summary",
    "write_summary",
]
