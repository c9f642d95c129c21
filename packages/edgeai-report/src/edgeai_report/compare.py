"""What several runs share, and what the comparison must leave out (and say why).

Runs differ: one failed before its benchmark, one has no dataset (synthetic inputs, quality not applicable),
one evaluates a different task. The comparison keeps every run it can in each part (latency, quality, the
trade-off chart, per-stage deltas) and lists each run it left out of a part with the reason, so a reader
never mistakes a missing bar for a zero.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from edgeai_core.api import PRIMARY_LABEL, PRIMARY_METRIC, UsageError, slow_build_notes
from edgeai_report.load import STAGE_ORDER, Run
from edgeai_report.significance import PairSignificance, significance


@dataclass
class DeltaRow:
    """A run against its family's baseline: accuracy in points, median latency and size in percent."""

    run: Run
    baseline: Run
    accuracy_points: float | None
    median_change_pct: float | None
    size_change_pct: float | None
    #: the quality metric ``accuracy_points`` is the change of (accuracy, map or miou; None: not comparable)
    metric: str | None = None


@dataclass
class Comparison:
    runs: list[Run]
    latency_runs: list[Run] = field(default_factory=list)
    quality_task: str | None = None
    quality_runs: list[Run] = field(default_factory=list)
    #: scalar metrics every compared run reports (for tasks other than classification)
    quality_metrics: list[str] = field(default_factory=list)
    tradeoff_runs: list[Run] = field(default_factory=list)
    #: the quality metric of the trade-off chart: accuracy, or mAP / mIoU when the compared task has one
    tradeoff_metric: str = "accuracy"
    #: classification runs sharing one set of class names, for the per-class heatmaps
    per_class_runs: list[Run] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    resource_runs: list[Run] = field(default_factory=list)
    deltas: list[DeltaRow] = field(default_factory=list)
    baselines: list[Run] = field(default_factory=list)
    #: (part of the report, run name, reason)
    left_out: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: runs much slower than the fastest float run of their model, with what to try (edgeai_core.guidance)
    guidance: list[str] = field(default_factory=list)
    #: per compared pair: is the difference beyond noise (edgeai_report.significance)
    significance: list[PairSignificance] = field(default_factory=list)


def why_no_latency(run: Run) -> str:
    error = run.error
    if error and run.status != "complete":
        return f"no latency samples: the run {run.status} in stage {run.failed_stage} before measuring any"
    return "no latency samples in the file"


def why_no_quality(run: Run) -> str:
    quality = run.quality
    if quality is None:
        error = run.error
        if error and run.status != "complete":
            return f"not evaluated: the run {run.status} in stage {run.failed_stage} before evaluation"
        return "no quality section in the file"
    if not quality.get("applicable"):
        reason = quality.get("reason") or "the run had no labelled dataset"
        return f"quality not applicable: {reason}"
    return "no quality metrics"


def analyze(runs: list[Run], baseline: str | None = None) -> Comparison:
    comp = Comparison(runs=runs)
    for run in runs:
        if run.latency is not None and run.latency.stats and run.latency.samples_ns.size:
            comp.latency_runs.append(run)
            if run.latency.partial or run.status != "complete":
                comp.notes.append(f"{run.name}: latency from an unfinished benchmark ({run.status}), partial")
        else:
            comp.left_out.append(("latency", run.name, why_no_latency(run)))

    evaluated = [r for r in runs if r.quality and r.quality.get("applicable")]
    tasks = Counter(str(r.quality.get("task")) for r in evaluated if r.quality)
    if tasks:
        # classification when any run has it (the richest comparison), else the most common task
        comp.quality_task = "classification" if "classification" in tasks else tasks.most_common(1)[0][0]
    for run in runs:
        quality = run.quality
        if quality and quality.get("applicable") and str(quality.get("task")) == comp.quality_task:
            comp.quality_runs.append(run)
        elif quality and quality.get("applicable"):
            comp.left_out.append(
                (
                    "quality",
                    run.name,
                    f"its task is '{quality.get('task')}'; compared runs are '{comp.quality_task}'",
                )
            )
        else:
            comp.left_out.append(("quality", run.name, why_no_quality(run)))
    if comp.quality_task and comp.quality_task != "classification":
        shared: set[str] | None = None
        for run in comp.quality_runs:
            metrics = {
                k
                for k, v in (run.quality or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "num_samples"
            }
            shared = metrics if shared is None else shared & metrics
        comp.quality_metrics = sorted(shared or ())
    datasets = {r.component("dataset") for r in comp.quality_runs}
    if len(datasets) > 1:
        comp.notes.append(
            "quality compares different datasets ("
            + ", ".join(sorted(str(d) for d in datasets))
            + "): each run is scored on its own test split"
        )

    comp.tradeoff_metric = PRIMARY_METRIC.get(str(comp.quality_task), "accuracy")
    for run in runs:
        missing = []
        if tradeoff_value(comp, run) is None:
            missing.append(PRIMARY_LABEL.get(comp.tradeoff_metric, comp.tradeoff_metric))
        if run not in comp.latency_runs:
            missing.append("median latency")
        if run.size_bytes is None:
            missing.append("model size")
        if missing:
            comp.left_out.append(("trade-off chart", run.name, "no " + " and no ".join(missing)))
        else:
            comp.tradeoff_runs.append(run)

    _per_class(comp)
    for run in runs:
        sides = [s for s in (run.host_resources, run.target_resources) if s is not None]
        if any(s.has_data() for s in sides):
            comp.resource_runs.append(run)
        else:
            reason = (
                "no resource readings" if sides else "no resource series (sampling off or run ended early)"
            )
            comp.left_out.append(("resource plot", run.name, reason))
    _deltas(comp, baseline)
    comp.guidance = slow_build_notes([(run.name, run.doc) for run in runs])
    comp.significance = significance(comp)
    return comp


def tradeoff_value(comp: Comparison, run: Run) -> float | None:
    """The run's value on the trade-off chart's quality axis (accuracy, mAP or mIoU), None without one."""
    primary = run.primary
    return primary[1] if primary is not None and primary[0] == comp.tradeoff_metric else None


def _per_class(comp: Comparison) -> None:
    """The per-class heatmaps need one set of classes: the most common among the classification runs."""
    groups: dict[tuple[str, ...], list[Run]] = {}
    for run in comp.quality_runs:
        cls = run.classification
        if cls is not None:
            names = tuple(str(n) for n in cls.get("class_names") or range(int(cls["num_classes"])))
            groups.setdefault(names, []).append(run)
    if not groups:
        return
    names, members = max(groups.items(), key=lambda item: len(item[1]))
    comp.per_class_runs, comp.class_names = members, list(names)
    for other, runs in groups.items():
        if other != names:
            for run in runs:
                reason = f"its {len(other)} classes differ from the compared runs' {len(names)}"
                comp.left_out.append(("per-class comparison", run.name, reason))


def _deltas(comp: Comparison, baseline: str | None) -> None:
    """One baseline per dataset+model family: ``baseline`` if named, else the family's first float run."""
    runs = comp.runs
    groups: list[tuple[Run, list[Run]]] = []
    if baseline is not None:
        matches = [r for r in runs if r.name == baseline]
        if not matches:
            raise UsageError(
                f"--baseline: no run is named '{baseline}' (runs: {', '.join(r.name for r in runs)})"
            )
        base = matches[0]
        groups.append((base, [r for r in runs if r is not base and r.family == base.family]))
        for run in runs:
            if run.family != base.family:
                reason = f"its dataset, dataset settings or model differ from the baseline {base.name}'s"
                comp.left_out.append(("per-stage deltas", run.name, reason))
    else:
        families: dict[tuple[str, str | None], list[Run]] = {}
        for run in runs:
            families.setdefault(run.family, []).append(run)
        for members in families.values():
            if len(members) < 2:
                if len(families) > 1:
                    reason = f"no other run of {_family(members[0])} with the same dataset settings"
                    comp.left_out.append(("per-stage deltas", members[0].name, reason))
                continue
            floats = [r for r in members if r.stage == "float"]
            base = floats[0] if floats else members[0]
            if not floats:
                comp.notes.append(
                    f"no float run of {_family(base)}: deltas are against {base.name} ({base.stage})"
                )
            groups.append((base, [r for r in members if r is not base]))
    for base, others in groups:
        comp.baselines.append(base)
        others.sort(key=lambda r: STAGE_ORDER.index(r.stage) if r.stage in STAGE_ORDER else len(STAGE_ORDER))
        for run in others:
            mine, theirs = run.primary, base.primary
            shared = mine is not None and theirs is not None and mine[0] == theirs[0]
            comp.deltas.append(
                DeltaRow(
                    run=run,
                    baseline=base,
                    metric=mine[0] if shared and mine else None,
                    accuracy_points=_diff(mine[1], theirs[1], 100.0) if shared and mine and theirs else None,
                    median_change_pct=_pct(
                        run.latency.median if run.latency else None,
                        base.latency.median if base.latency else None,
                    ),
                    size_change_pct=_pct(run.size_bytes, base.size_bytes),
                )
            )


def _family(run: Run) -> str:
    return f"{run.component('model') or '?'} on {run.component('dataset') or 'synthetic inputs'}"


def _diff(value: float | None, base: float | None, scale: float) -> float | None:
    return None if value is None or base is None else (value - base) * scale


def _pct(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base == 0:
        return None
    return (value / base - 1.0) * 100.0
