"""What the reports say: the plots each run needs and the sections, tables and notes around them.

:func:`plot_jobs` lists the figures to draw (plain data only, so they can be drawn in other processes);
:func:`single_report` and :func:`comparison_report` build the format-neutral documents from the runs and the
drawn figures. Every number shown comes straight from the measurement document, formatted in the unit its
column header states.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_report import emulation, instructions, optimization, vision
from edgeai_report.compare import Comparison, tradeoff_value, why_no_latency, why_no_quality
from edgeai_report.complexity import complexity_blocks, complexity_comparison_table, memory_blocks
from edgeai_report.document import (
    Bullets,
    Callout,
    Code,
    Document,
    Heading,
    Image,
    Inline,
    Paragraph,
    Table,
    text,
)
from edgeai_report.fit import fit_blocks
from edgeai_report.layers import comparison_blocks as layer_comparison_blocks
from edgeai_report.layers import plot_jobs as layer_plot_jobs
from edgeai_report.layers import run_blocks as layer_blocks
from edgeai_report.load import Latency, Run, Series
from edgeai_report.plots import PlotFile
from edgeai_report.scenarios import scenario_blocks, scenario_plot_jobs
from edgeai_report.trust import significance_notes, significance_table, validity_blocks
from edgeai_report.units import Unit, fixed, human_size, human_time, signed, size_unit, time_unit

MIB = 1024.0**2


@dataclass
class PlotJob:
    """One figure to draw: a function of :mod:`edgeai_report.plots`, its keyword arguments and the file base."""

    key: str
    function: str
    kwargs: dict[str, Any]


# -- plots ------------------------------------------------------------------------------------------------


def _series_dict(series: Series) -> dict[str, Any]:
    return {
        "t_s": series.t_s,
        "cpu_percent": series.cpu_percent,
        "system_cpu_percent": series.system_cpu_percent,
        "rss_bytes": series.rss_bytes,
        "probes": dict(series.probes),
    }


def _latency_sides(run: Run) -> list[tuple[str, Latency]]:
    sides = []
    if run.latency is not None:
        label = "host round trip" if run.target_latency is not None else "host"
        sides.append((emulation.side_label(run, label), run.latency))
    if run.target_latency is not None:
        sides.append((emulation.side_label(run, "target inference"), run.target_latency))
    return sides


def run_plot_jobs(run: Run, img_dir: Path, *, detail: bool = True) -> list[PlotJob]:
    """Figures of one run. ``detail=False`` (inside a comparison) leaves out the resource and per-class
    figures, which the comparison draws for all runs at once."""
    jobs: list[PlotJob] = scenario_plot_jobs(run, img_dir)
    sides = _latency_sides(run)
    base = img_dir / run.slug
    if any(lat.samples_ns.size or lat.warmup_ns.size for _, lat in sides):
        series = [(label, lat.samples_ns, lat.warmup_ns) for label, lat in sides]
        key = f"{run.slug}-latency"
        jobs.append(
            PlotJob(
                key,
                "latency",
                {
                    "series": series,
                    "base": Path(f"{base}-latency"),
                    "key": key,
                    "title": f"{run.name}: latency",
                },
            )
        )
    resource_sides = [
        (label, _series_dict(series))
        for label, series in (("host", run.host_resources), ("target", run.target_resources))
        if series is not None and series.has_data()
    ]
    if resource_sides and detail:
        key = f"{run.slug}-resources"
        jobs.append(
            PlotJob(
                key,
                "resources",
                {
                    "sides": resource_sides,
                    "base": Path(f"{base}-resources"),
                    "key": key,
                    "title": f"{run.name}: resource use",
                },
            )
        )
    cls = run.classification
    if cls is not None:
        names = [str(n) for n in cls.get("class_names") or []]
        key = f"{run.slug}-confusion"
        jobs.append(
            PlotJob(
                key,
                "confusion_matrix",
                {
                    "matrix": cls["confusion_matrix"],
                    "class_names": names,
                    "base": Path(f"{base}-confusion"),
                    "key": key,
                    "title": f"{run.name}: confusion matrix",
                },
            )
        )
        per_class = cls.get("per_class") or {}
        key = f"{run.slug}-per-class"
        if detail:
            jobs.append(
                PlotJob(
                    key,
                    "per_class",
                    {
                        "precision": per_class.get("precision") or [],
                        "sensitivity": per_class.get("sensitivity") or [],
                        "class_names": names,
                        "base": Path(f"{base}-per-class"),
                        "key": key,
                        "title": f"{run.name}: per-class scores",
                    },
                )
            )
    jobs += vision.plot_jobs(run, img_dir, detail=detail)  # detection and segmentation figures
    jobs += layer_plot_jobs(run, img_dir)  # per-layer times and error growth (edgeai_report.layers)
    return jobs


def comparison_plot_jobs(comp: Comparison, img_dir: Path) -> list[PlotJob]:
    jobs: list[PlotJob] = []
    if comp.latency_runs:
        series = [(r.name, r.latency.samples_ns) for r in comp.latency_runs if r.latency is not None]
        jobs.append(
            PlotJob(
                "compare-latency",
                "compare_latency",
                {
                    "series": series,
                    "base": img_dir / "compare-latency",
                    "key": "compare-latency",
                    "title": "Latency distributions",
                },
            )
        )
    if comp.tradeoff_runs:
        points = [
            (
                r.name,
                float(r.latency.median or 0.0) if r.latency else 0.0,
                float(tradeoff_value(comp, r) or 0.0),
                r.size_bytes,
            )
            for r in comp.tradeoff_runs
        ]
        jobs.append(
            PlotJob(
                "compare-tradeoff",
                "compare_tradeoff",
                {
                    "points": points,
                    "base": img_dir / "compare-tradeoff",
                    "key": "compare-tradeoff",
                    "title": _tradeoff_title(comp),
                    **({} if comp.tradeoff_metric == "accuracy" else {"metric_label": _tradeoff_label(comp)}),
                },
            )
        )
    if comp.per_class_runs:
        labels = [r.name for r in comp.per_class_runs]
        precision = [
            ((r.quality or {}).get("per_class") or {}).get("precision") or [] for r in comp.per_class_runs
        ]
        sensitivity = [
            ((r.quality or {}).get("per_class") or {}).get("sensitivity") or [] for r in comp.per_class_runs
        ]
        jobs.append(
            PlotJob(
                "compare-per-class",
                "compare_per_class",
                {
                    "labels": labels,
                    "class_names": comp.class_names,
                    "precision": precision,
                    "sensitivity": sensitivity,
                    "base": img_dir / "compare-per-class",
                    "key": "compare-per-class",
                    "title": "Per-class scores",
                },
            )
        )
    jobs += vision.comparison_plot_jobs(comp, img_dir)  # per-class AP / IoU changes
    if comp.resource_runs:
        resource_sides: list[tuple[str, dict[str, Any]]] = []
        for r in comp.resource_runs:
            for label, side in ((r.name, r.host_resources), (f"{r.name} (target)", r.target_resources)):
                if side is not None and side.has_data():
                    resource_sides.append(
                        (label, {**_series_dict(side), "target": side is r.target_resources})
                    )
        jobs.append(
            PlotJob(
                "compare-resources",
                "compare_resources",
                {
                    "sides": resource_sides,
                    "base": img_dir / "compare-resources",
                    "key": "compare-resources",
                    "title": "Resource use",
                },
            )
        )
    if comp.deltas:
        several = len(comp.baselines) > 1
        rows = [
            (
                f"{d.run.name} vs {d.baseline.name}" if several else d.run.name,
                d.run.stage,
                d.accuracy_points,
                d.median_change_pct,
            )
            for d in comp.deltas
        ]
        baseline = ", ".join(b.name for b in comp.baselines)
        metric = vision.delta_header(comp).removesuffix(" change (points)")
        jobs.append(
            PlotJob(
                "compare-deltas",
                "compare_deltas",
                {
                    "metric_label": metric,
                    "rows": rows,
                    "baseline": baseline,
                    "base": img_dir / "compare-deltas",
                    "key": "compare-deltas",
                    "title": "Per-stage deltas",
                },
            )
        )
    return jobs


def _tradeoff_label(comp: Comparison) -> str:
    return vision.metric_label(comp.tradeoff_metric)


def _tradeoff_title(comp: Comparison) -> str:
    """ "Accuracy, latency and size" (or mAP / mIoU for detection and segmentation comparisons)."""
    label = _tradeoff_label(comp)
    return "Accuracy, latency and size" if label == "accuracy" else f"{label}, latency and size"


# -- tables -----------------------------------------------------------------------------------------------


def _pct_value(value: Any, decimals: int = 1) -> str:
    return fixed(value, decimals) if isinstance(value, (int, float)) else "-"


def latency_unit(runs_sides: list[Latency]) -> Unit:
    return time_unit([lat.median for lat in runs_sides if lat.median is not None])


def latency_row(lat: Latency, unit: Unit) -> list[str]:
    stats = lat.stats or {}
    ci = stats.get("median_ci") or {}
    ci_text = f"{unit.fmt(ci.get('low'))} to {unit.fmt(ci.get('high'))}" if ci else "-"
    return [
        str(stats.get("count", lat.samples_ns.size)),
        unit.fmt(stats.get("mean")),
        unit.fmt(stats.get("std")),
        unit.fmt(stats.get("min")),
        unit.fmt(stats.get("median")),
        ci_text,
        unit.fmt(stats.get("p90")),
        unit.fmt(stats.get("p95")),
        unit.fmt(stats.get("p99")),
        unit.fmt(stats.get("max")),
    ]


def latency_header(unit: Unit, confidence: float | None) -> list[str]:
    level = f"{confidence * 100:.0f}%" if confidence else "95%"
    u = unit.label
    return [
        "count",
        f"mean ({u})",
        f"std ({u})",
        f"min ({u})",
        f"median ({u})",
        f"median {level} CI ({u})",
        f"p90 ({u})",
        f"p95 ({u})",
        f"p99 ({u})",
        f"max ({u})",
    ]


def _confidence(lats: list[Latency]) -> float | None:
    for lat in lats:
        ci = (lat.stats or {}).get("median_ci") or {}
        if ci.get("confidence"):
            return float(ci["confidence"])
    return None


def _summary_value(series: Series, metric: str, key: str, scale: float = 1.0, decimals: int = 1) -> str:
    block = series.summary.get(metric) or {}
    value = block.get(key)
    if isinstance(value, (int, float)):
        return fixed(value / scale, decimals)
    values = {"cpu_percent": series.cpu_percent, "rss_bytes": series.rss_bytes}.get(metric)
    if values is not None and np.isfinite(values).any():  # older files without a summary
        computed = np.nanmean(values) if key == "mean" else np.nanmax(values)
        return fixed(float(computed) / scale, decimals)
    return "-"


def resource_row(series: Series) -> list[str]:
    return [
        str(len(series.t_s)),
        fixed(series.interval_s, 3) if series.interval_s else "-",
        _summary_value(series, "cpu_percent", "mean"),
        _summary_value(series, "cpu_percent", "max"),
        _summary_value(series, "system_cpu_percent", "mean"),
        _summary_value(series, "rss_bytes", "mean", MIB, 2),
        _summary_value(series, "rss_bytes", "max", MIB, 2),
    ]


RSS_NOTE = (
    "Process RSS is the resident memory of the whole process (Python, the framework, the runtime and the "
    "model together), not the memory of the model alone."
)
RESOURCE_HEADER = [
    "samples",
    "interval (s)",
    "process CPU mean (%)",
    "process CPU max (%)",
    "system CPU mean (%)",
    "process RSS mean (MiB)",
    "process RSS max (MiB)",
]
CLASSIFICATION_METRICS = (
    ("accuracy", "accuracy"),
    ("top5_accuracy", "top-5 accuracy"),
    ("mean_precision", "mean precision"),
    ("mean_sensitivity", "mean sensitivity"),
    ("g_mean", "G-mean"),
)


def interrupted_text(message: Any) -> str:
    """The sentence under "Run interrupted": the recorded reason (Ctrl-C records none) as a sentence of its
    own, then what the data below is."""
    reason = str(message or "").strip().rstrip(".").strip()
    lead = f"{reason[:1].upper()}{reason[1:]}. " if reason else ""
    return f"{lead}The data below is what was recorded before it stopped, and is partial."


def _status_callout(run: Run) -> list[Callout]:
    out: list[Callout] = []
    error = run.error or {}
    if run.status == "failed":
        out.append(
            Callout(
                "error",
                f"Run failed in stage {run.failed_stage}.",
                [
                    ("code", f"{error.get('type', 'Error')}: {error.get('message', '')}"),
                    (
                        "text",
                        " Everything below was measured before the failure: latency, resources and quality "
                        "are partial or missing.",
                    ),
                ],
            )
        )
    elif run.status == "interrupted":
        out.append(
            Callout(
                "warning",
                f"Run interrupted in stage {run.failed_stage}.",
                [("text", interrupted_text(error.get("message")))],
            )
        )
    elif run.status == "running":
        out.append(Callout("warning", "Run still in progress.", text("The data below is partial.")))
    if run.recovered:
        out.append(
            Callout(
                "info",
                "Rebuilt from a progress file.",
                [
                    ("text", "This run left no results.json; it was rebuilt from "),
                    ("code", run.path.name),
                    ("text", " with edgeai_core.measurement.recover_partial."),
                ],
            )
        )
    return out


def _size_text(run: Run) -> str:
    artifact = run.final_artifact
    if artifact is None:
        return "-"
    size = artifact.get("size_bytes")
    files = artifact.get("files")
    count = f" in {len(files)} files" if isinstance(files, list) and len(files) > 1 else ""
    return f"{artifact.get('format')}, {human_size(size)} ({size} bytes{count})"


def run_summary_table(run: Run) -> Table:
    lat = run.latency
    rows = [
        ["run", run.name],
        ["status", run.status],
        ["results file", str(run.path)],
        ["task", run.task or "-"],
        ["dataset", run.component("dataset") or "synthetic inputs"],
        ["model", run.component("model") or "-"],
        ["road", run.road],
        ["stage", run.stage],
        ["runtime", run.component("runtime") or "-"],
        ["target", emulation.target_text(run, run.component("target") or "this machine")],
        ["model file", _size_text(run)],
        ["accuracy", fixed(run.accuracy)],
        *vision.summary_rows(run),
        ["median latency", emulation.side_label(run, human_time(lat.median)) if lat else "-"],
        *instructions.summary_rows(run),
        ["throughput (inferences/s)", fixed(lat.throughput_per_s, 1) if lat else "-"],
    ]
    return Table(f"{run.slug}-summary", "Summary", ["field", "value"], rows, [False, False])


def latency_blocks(run: Run, plots: dict[str, PlotFile], level: int) -> list[Any]:
    blocks: list[Any] = [Heading(level, "Latency", f"{run.slug}-latency")]
    if emulation.emulated(run):
        blocks.append(Callout("warning", emulation.NOTE_TITLE, text(emulation.NOTE_TEXT)))
    counted = instructions.sentence(run)
    if counted:
        blocks.append(Paragraph(text(counted)))
    sides = _latency_sides(run)
    with_stats = [(label, lat) for label, lat in sides if lat.stats]
    if not with_stats:
        blocks.append(Paragraph(text(why_no_latency_text(run))))
        warmup = sum(lat.warmup_ns.size for _, lat in sides)
        if warmup and f"{run.slug}-latency" in plots:
            blocks.append(Paragraph(text(f"Only warm-up calls were timed ({warmup}); they are drawn below.")))
            blocks.append(Image(plots[f"{run.slug}-latency"]))
        return blocks
    unit = latency_unit([lat for _, lat in with_stats])
    header = ["side", *latency_header(unit, _confidence([lat for _, lat in with_stats]))]
    rows = [[label, *latency_row(lat, unit)] for label, lat in with_stats]
    numeric = [False] + [True] * (len(header) - 1)
    blocks.append(
        Table(
            f"{run.slug}-latency-stats",
            "Latency statistics (warm-up excluded; percentiles by nearest rank)",
            header,
            rows,
            numeric,
        )
    )
    host = run.latency
    facts: list[Inline] = []
    if host is not None:
        facts.append(text(f"warm-up calls excluded: {host.warmup_ns.size}"))
        if host.stop_reason:
            facts.append(text(f"stopped by: {host.stop_reason.replace('_', ' ')}"))
        if host.wall_s is not None:
            facts.append(text(f"measured wall time: {host.wall_s:.3f} s"))
        if host.throughput_per_s is not None:
            facts.append(text(f"throughput: {host.throughput_per_s:.1f} inferences/s"))
        if host.batch_size:
            facts.append(text(f"batch size: {host.batch_size}"))
    if run.target_latency is not None and run.target_latency.source:
        facts.append(text(f"target side: {run.target_latency.source}"))
    if facts:
        blocks.append(Bullets(facts))
    stored = [
        (label, lat) for label, lat in with_stats if (lat.stats or {}).get("count", 0) > lat.samples_ns.size
    ]
    for label, lat in stored:
        blocks.append(
            Callout(
                "info",
                f"The file stores {lat.samples_ns.size} of {(lat.stats or {}).get('count')} {label} samples.",
                text("The statistics cover every measured call; the plots show the stored samples."),
            )
        )
    if any(lat.stats_computed for _, lat in with_stats):
        blocks.append(
            Callout(
                "warning",
                "Statistics computed by the report.",
                text(
                    "The file holds samples of an unfinished benchmark but no statistics; the report computed them "
                    "with edgeai_core.stats from those samples."
                ),
            )
        )
    elif any(lat.partial for _, lat in with_stats):
        blocks.append(
            Callout(
                "warning",
                "Partial benchmark.",
                text("These samples come from a benchmark that did not finish."),
            )
        )
    if f"{run.slug}-latency" in plots:
        blocks.append(Image(plots[f"{run.slug}-latency"]))
    return blocks


def why_no_latency_text(run: Run) -> str:
    return _sentence(why_no_latency(run))


def _sentence(reason: str) -> str:
    return reason[:1].upper() + reason[1:] + "."


def resource_blocks(run: Run, plots: dict[str, PlotFile], level: int) -> list[Any]:
    blocks: list[Any] = [Heading(level, "Resource use", f"{run.slug}-resources")]
    sides = [(label, s) for label, s in (("host", run.host_resources), ("target", run.target_resources)) if s]
    if not sides:
        blocks.append(
            Paragraph(
                text(
                    "No resource series was recorded (sampling disabled or the run ended "
                    "before the benchmark)."
                )
            )
        )
        return blocks
    rows = [[label, *resource_row(series)] for label, series in sides]
    blocks.append(
        Table(
            f"{run.slug}-resource-stats",
            "Resource use during the benchmark",
            ["side", *RESOURCE_HEADER],
            rows,
            [False] + [True] * len(RESOURCE_HEADER),
        )
    )
    blocks.append(Paragraph(text(RSS_NOTE)))
    probe_rows = []
    for label, series in sides:
        for name, values in series.probes.items():
            finite = values[np.isfinite(values)]
            probe_rows.append(
                [
                    label,
                    name,
                    str(finite.size),
                    fixed(float(finite.mean()) if finite.size else None, 3),
                    fixed(float(finite.max()) if finite.size else None, 3),
                ]
            )
        for name, message in series.probe_errors.items():
            probe_rows.append([label, name, "0", "-", f"failed: {message}"])
    if probe_rows:
        blocks.append(
            Table(
                f"{run.slug}-probes",
                "Probe readings",
                ["side", "probe/metric", "readings", "mean", "max"],
                probe_rows,
                [False, False, True, True, True],
            )
        )
    if f"{run.slug}-resources" in plots:
        blocks.append(Image(plots[f"{run.slug}-resources"]))
    elif not any(series.has_data() for _, series in sides):
        blocks.append(Paragraph(text("The series holds no readings to draw.")))
    return blocks


def quality_blocks(run: Run, plots: dict[str, PlotFile], level: int) -> list[Any]:
    blocks: list[Any] = [Heading(level, "Quality", f"{run.slug}-quality")]
    quality = run.quality
    cls = run.classification
    if cls is not None:
        rows = []
        for key, label in CLASSIFICATION_METRICS:
            name = label if key != "top5_accuracy" else f"top-{cls.get('top_k') or 5} accuracy"
            rows.append([name, fixed(cls.get(key))])
        rows += [
            ["evaluated samples", str(cls.get("num_samples"))],
            ["classes", str(cls.get("num_classes"))],
            ["split", str(cls.get("split", "-"))],
        ]
        blocks.append(
            Table(
                f"{run.slug}-quality-metrics",
                "Classification quality",
                ["metric", "value"],
                rows,
                [False, True],
            )
        )
        for key in (f"{run.slug}-confusion", f"{run.slug}-per-class"):
            if key in plots:
                blocks.append(Image(plots[key]))
        per = cls.get("per_class") or {}
        names = cls.get("class_names") or [str(i) for i in range(int(cls["num_classes"]))]
        support = per.get("support") or [int(sum(row)) for row in cls["confusion_matrix"]]
        prec, sens = per.get("precision") or [], per.get("sensitivity") or []
        per_rows = [
            [
                str(names[i]),
                str(support[i]) if i < len(support) else "-",
                fixed(prec[i] if i < len(prec) else None),
                fixed(sens[i] if i < len(sens) else None),
            ]
            for i in range(int(cls["num_classes"]))
        ]
        blocks.append(
            Table(
                f"{run.slug}-per-class",
                "Per-class scores (n/a shown as -)",
                ["class", "support", "precision", "sensitivity"],
                per_rows,
                [False, True, True, True],
            )
        )
    elif vision.vision_quality(run) is not None:
        blocks += vision.quality_blocks(run, plots, level)
    elif quality is not None and quality.get("applicable"):
        rows = [
            [k, _scalar(v)]
            for k, v in quality.items()
            if k not in ("applicable",) and not isinstance(v, (dict, list))
        ]
        blocks.append(
            Table(
                f"{run.slug}-quality-metrics",
                f"Quality ({quality.get('task')})",
                ["metric", "value"],
                rows,
                [False, True],
            )
        )
    else:
        blocks.append(Paragraph(text(_sentence(why_no_quality(run)))))
    return blocks


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return fixed(value)
    return "-" if value is None else str(value)


def steps_table(run: Run) -> Table:
    rows = []
    for i, step in enumerate(run.steps, start=1):
        artifact = step.get("artifact") or {}
        formats = (
            " -> ".join(str(f) for f in (step.get("input_format"), step.get("output_format")) if f) or "-"
        )
        name = str(step.get("name")) + (" (inserted)" if step.get("inserted") else "")
        rows.append(
            [
                str(i),
                str(step.get("kind")),
                name,
                formats,
                fixed(step.get("duration_s"), 3),
                str(artifact.get("path", "-")),
                str(artifact.get("size_bytes", "-")),
            ]
        )
    return Table(
        f"{run.slug}-steps",
        "Steps (durations include loading and saving)",
        ["#", "kind", "name", "formats", "duration (s)", "artifact", "size (bytes)"],
        rows,
        [True, False, False, False, True, False, True],
    )


def _machine(prov: dict[str, Any]) -> str:
    os_ = prov.get("os") or {}
    return " ".join(str(os_.get(k, "")) for k in ("system", "release", "machine")).strip() or "-"


def _cpu(prov: dict[str, Any]) -> str:
    cpu = prov.get("cpu") or {}
    if not cpu:
        return "-"
    cores = f"{cpu.get('logical_cores')} logical / {cpu.get('physical_cores')} physical cores"
    freq = f", {cpu['max_frequency_mhz']:.0f} MHz" if cpu.get("max_frequency_mhz") else ""
    return f"{cpu.get('model', '?')} ({cores}{freq})"


def _versions(mapping: Any) -> str:
    if not isinstance(mapping, dict) or not mapping:
        return "-"
    return ", ".join(f"{k} {v}" for k, v in sorted(mapping.items()))


def provenance_blocks(run: Run, level: int) -> list[Any]:
    prov = run.doc.get("provenance") or {}
    blocks: list[Any] = [Heading(level, "Provenance", f"{run.slug}-provenance")]
    if not prov:
        blocks.append(
            Paragraph(text("The file records no provenance (the run stopped before it was written)."))
        )
        return blocks
    python = prov.get("python") or {}
    memory = prov.get("memory_total_bytes")
    rows = [
        ["edgeai", str(prov.get("edgeai_version", "-"))],
        ["plugins", _versions(prov.get("plugins"))],
        ["frameworks", _versions(prov.get("frameworks"))],
        ["command", str(prov.get("command", "-"))],
        ["python", f"{python.get('implementation', '')} {python.get('version', '')}".strip() or "-"],
        ["operating system", _machine(prov)],
        ["CPU", _cpu(prov)],
        ["machine memory (total)", human_size(memory) if isinstance(memory, (int, float)) else "-"],
        ["hostname", str(prov.get("hostname", "-"))],
        ["seed", str(prov.get("seed", "-"))],
        ["started", str(prov.get("started_at", "-"))],
        ["finished", str(prov.get("finished_at") or "-")],
        ["git commit", str(prov.get("git_sha") or "-")],
    ]
    target = prov.get("target")
    if isinstance(target, dict):
        machine = target.get("machine") if isinstance(target.get("machine"), dict) else {}
        rows += [
            [
                "target",
                f"{target.get('runtime', '?')} at {target.get('address', '?')} ({target.get('software', '?')}, "
                f"protocol {target.get('protocol_version', '?')})",
            ],
            ["target versions", _versions(target.get("versions"))],
            [
                "target machine",
                f"{_machine(machine)}, {_cpu(machine)}, host {machine.get('hostname', '?')}"
                if machine
                else "-",
            ],
        ]
    blocks.append(Table(f"{run.slug}-provenance", "Provenance", ["field", "value"], rows, [False, False]))
    if prov.get("config"):
        blocks.append(Paragraph(text("Resolved configuration:")))
        blocks.append(Code(json.dumps(prov["config"], indent=2, sort_keys=False), "json"))
    return blocks


def _sci(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _fidelity_entries(run: Run) -> list[dict[str, Any]]:
    section = run.doc.get("fidelity")
    if not isinstance(section, dict):
        return []
    return [e for e in section.get("steps") or [] if isinstance(e, dict)]


def _verdict(entry: dict[str, Any]) -> str:
    if entry.get("within_tolerance") is True:
        return "within"
    if entry.get("within_tolerance") is False:
        return "OVER"
    reason = entry.get("reason")
    return str(entry.get("status", "-")) + (f": {reason}" if reason else "")


FIDELITY_HEADER = [
    "step",
    "kind",
    "precision",
    "runtime",
    "max abs diff",
    "mean abs diff",
    "relative error",
    "cosine",
    "top-1 agreement",
    "tolerance",
]


def _fidelity_row(entry: dict[str, Any]) -> list[str]:
    return [
        str(entry.get("step", "-")),
        str(entry.get("kind", "-")),
        str(entry.get("precision", "-")),
        str(entry.get("runtime") or "-"),
        _sci(entry.get("max_abs_diff")),
        _sci(entry.get("mean_abs_diff")),
        _sci(entry.get("relative_error")),
        fixed(entry.get("cosine_similarity"), 5),
        fixed(entry.get("top1_agreement"), 3),
        _verdict(entry),
    ]


def fidelity_blocks(run: Run, level: int) -> list[Any]:
    """Each step (and the final runtime) against the reference model: the ``fidelity`` section."""
    section = run.doc.get("fidelity")
    blocks: list[Any] = [Heading(level, "Fidelity", f"{run.slug}-fidelity")]
    if not isinstance(section, dict):
        blocks.append(Paragraph(text("The file records no fidelity section (written before edgeai 1.2).")))
        return blocks
    if not section.get("enabled", True):
        blocks.append(Paragraph(text("Fidelity was not checked (fidelity.enabled = false).")))
        return blocks
    reference = section.get("reference") or {}
    inputs = section.get("inputs") or {}
    policy = section.get("policy") or {}
    where = (
        f"{inputs.get('samples')} samples of {inputs.get('dataset')}'s {inputs.get('split')} split"
        if inputs.get("source") == "dataset"
        else f"{inputs.get('samples')} synthetic seeded inputs"
        if inputs.get("source") == "synthetic"
        else str(inputs.get("reason") or "no inputs")
    )
    about = (
        f"Reference: {reference.get('step')} ({reference.get('format')}) in {reference.get('runtime')}"
        if reference
        else "No reference: no installed runtime ran the model"
    )
    blocks.append(
        Paragraph(
            text(
                f"{about}; inputs: {where}. Float steps: every value within atol {policy.get('atol')} "
                f"(probabilities {policy.get('probability_atol')}) + rtol {policy.get('rtol')} x |reference|; "
                f"int8 and float16 steps: cosine >= {policy.get('min_cosine')} and top-1 agreement >= "
                f"{policy.get('min_top1')}."
            )
        )
    )
    if reference.get("note"):
        blocks.append(Paragraph(text(str(reference["note"]))))
    cross = emulation.cross_architecture_text(section)
    if cross:
        blocks.append(Paragraph(text(cross)))
    entries = _fidelity_entries(run)
    if entries:
        blocks.append(
            Table(
                f"{run.slug}-fidelity",
                "Fidelity per step against the reference (same inputs)",
                FIDELITY_HEADER,
                [_fidelity_row(e) for e in entries],
                [False, False, False, False, True, True, True, True, True, False],
            )
        )
    over = [e for e in entries if e.get("violations")]
    if over:
        detail = " ".join(f"{e.get('step')}: {'; '.join(str(v) for v in e['violations'])}." for e in over)
        blocks.append(Callout("warning", f"{len(over)} step(s) over the fidelity tolerance.", text(detail)))
    return blocks


def fidelity_comparison_table(comp: Comparison) -> Table | None:
    rows = [[run.name, *_fidelity_row(e)] for run in comp.runs for e in _fidelity_entries(run)]
    if not rows:
        return None
    return Table(
        "fidelity",
        "Fidelity of each run's steps against its reference model",
        ["run", *FIDELITY_HEADER],
        rows,
        [False, False, False, False, False, True, True, True, True, True, False],
    )


def run_blocks(run: Run, plots: dict[str, PlotFile], level: int) -> list[Any]:
    blocks: list[Any] = [*_status_callout(run), *validity_blocks(run), run_summary_table(run)]
    blocks += latency_blocks(run, plots, level)
    blocks += scenario_blocks(run, plots, level)
    blocks += resource_blocks(run, plots, level)
    blocks += memory_blocks(run, level)
    blocks += complexity_blocks(run, level)
    blocks += quality_blocks(run, plots, level)
    blocks += fidelity_blocks(run, level)
    blocks += fit_blocks(run, level)
    blocks += layer_blocks(run, plots, level)
    blocks += [Heading(level, "Steps", f"{run.slug}-steps"), steps_table(run)]
    blocks += provenance_blocks(run, level)
    return blocks


# -- documents ---------------------------------------------------------------------------------------------


def single_report(run: Run, plots: dict[str, PlotFile], title: str, subtitle: str) -> Document:
    doc = Document(title, subtitle)
    doc.add(*run_blocks(run, plots, 2))
    return doc


def comparison_report(comp: Comparison, plots: dict[str, PlotFile], title: str, subtitle: str) -> Document:
    runs = comp.runs
    doc = Document(title, subtitle)
    failed = [r for r in runs if r.status != "complete"]
    if failed:
        doc.add(
            Callout(
                "error" if any(r.status == "failed" for r in failed) else "warning",
                f"{len(failed)} of {len(runs)} runs did not complete.",
                text(
                    " ".join(f"{r.name}: {r.status} in stage {r.failed_stage}." for r in failed)
                    + " Their data is partial."
                ),
            )
        )
    doc.add(Heading(2, "Runs", "runs"), runs_table(comp))
    if comp.guidance:
        doc.add(
            Heading(3, "Guidance: builds much slower than the float model", "guidance"),
            Bullets([text(note) for note in comp.guidance]),
        )
    machines = {(_machine(r.doc.get("provenance") or {}), _cpu(r.doc.get("provenance") or {})) for r in runs}
    machines.discard(("-", "-"))
    if len(machines) > 1:
        doc.add(
            Callout(
                "warning",
                "Runs come from different machines.",
                text(
                    "Latency and resource numbers are only comparable between runs measured on the same machine; "
                    "see Provenance."
                ),
            )
        )
    if comp.left_out or comp.notes:
        items = [
            [("strong", f"{part}:"), ("text", f" {name} left out: {reason}")]
            for part, name, reason in comp.left_out
        ]
        items += [text(note) for note in comp.notes]
        doc.add(Heading(3, "What the comparison leaves out", "left-out"), Bullets(items))

    doc.add(Heading(2, "Latency", "latency"))
    latency = latency_comparison_table(comp) if comp.latency_runs else None
    _plot_and_table(doc, plots, "compare-latency", latency, "No run has latency samples.")
    significant = significance_table(comp)
    if significant is not None:
        doc.add(Heading(3, "Beyond noise?", "significance"), significant)
        notes = significance_notes(comp)
        if notes is not None:
            doc.add(notes)

    doc.add(Heading(2, "Quality", "quality"))
    if comp.quality_runs:
        doc.add(quality_comparison_table(comp))
        doc.add(*vision.comparison_blocks(comp, plots))
    else:
        doc.add(Paragraph(text("No run has applicable quality metrics.")))
    if "compare-tradeoff" in plots:
        doc.add(Heading(3, _tradeoff_title(comp), "tradeoff"), Image(plots["compare-tradeoff"]))
    if "compare-per-class" in plots:
        doc.add(Heading(3, "Per-class scores", "per-class"), Image(plots["compare-per-class"]))

    doc.add(*optimization.blocks(comp.runs, plots))

    doc.add(Heading(2, "Per-stage deltas", "deltas"))
    deltas = deltas_table(comp) if comp.deltas else None
    no_deltas = "No per-stage deltas: no two runs share a dataset and a model."
    _plot_and_table(doc, plots, "compare-deltas", deltas, no_deltas)

    doc.add(Heading(2, "Fidelity", "fidelity"))
    fidelity = fidelity_comparison_table(comp)
    if fidelity is not None:
        doc.add(fidelity)
    else:
        doc.add(Paragraph(text("No run records per-step fidelity.")))

    doc.add(*layer_comparison_blocks(comp, plots))

    doc.add(Heading(2, "Resource use", "resources"))
    _plot_and_table(doc, plots, "compare-resources", resources_comparison_table(comp))
    complexity = complexity_comparison_table(comp)
    if complexity is not None:
        doc.add(Heading(2, "Complexity and model memory", "complexity"), complexity)
    doc.add(Heading(2, "Provenance", "provenance"), provenance_comparison_table(comp))

    doc.add(Heading(2, "Runs in detail", "details"))
    for run in runs:
        doc.add(Heading(3, run.name, run.slug, collapsible="closed"))  # 9 runs: a page, not 16,000 px
        doc.add(*run_blocks(run, plots, 4))
    return doc


def _plot_and_table(
    doc: Document, plots: dict[str, PlotFile], plot: str, table: Table | None, missing: str = ""
) -> None:
    """A comparison section: its plot where one was drawn and its table, or the line ``missing`` without one."""
    if table is None:
        doc.add(Paragraph(text(missing)))
        return
    if plot in plots:
        doc.add(Image(plots[plot]))
    doc.add(table)


def runs_table(comp: Comparison) -> Table:
    runs = comp.runs
    unit = latency_unit([r.latency for r in runs if r.latency is not None and r.latency.stats])
    sunit = size_unit([r.size_bytes for r in runs])
    header = [
        "run",
        "status",
        "stage",
        "road",
        f"model size ({sunit.label})",
        "accuracy",
        f"median ({unit.label})",
        f"p99 ({unit.label})",
        "throughput (inferences/s)",
    ]
    extra = vision.primary_columns(runs)  # mAP, mIoU: only where a run is scored by one
    header[6:6] = [vision.metric_label(m) for m in extra]
    rows = []
    for run in runs:
        stats = (run.latency.stats if run.latency else None) or {}
        rows.append(
            [
                run.name,
                run.status,
                run.stage,
                run.road,
                sunit.fmt(run.size_bytes) if run.size_bytes is not None else "-",
                fixed(run.accuracy),
                *[vision.primary_cell(run, m) for m in extra],
                unit.fmt(stats.get("median")),
                unit.fmt(stats.get("p99")),
                fixed(run.latency.throughput_per_s, 1) if run.latency else "-",
            ]
        )
    return Table("runs", "Runs compared", header, rows, [False] * 4 + [True] * (len(header) - 4))


def latency_comparison_table(comp: Comparison) -> Table:
    sides: list[tuple[str, str, Latency]] = []
    for run in comp.latency_runs:
        for label, lat in _latency_sides(run):
            if lat.stats:
                sides.append((run.name, label, lat))
    unit = latency_unit([lat for _, _, lat in sides])
    header = ["run", "side", *latency_header(unit, _confidence([lat for _, _, lat in sides]))]
    rows = [[name, label, *latency_row(lat, unit)] for name, label, lat in sides]
    return Table(
        "latency-stats",
        "Latency statistics (warm-up excluded; percentiles by nearest rank)",
        header,
        rows,
        [False, False] + [True] * (len(header) - 2),
    )


def quality_comparison_table(comp: Comparison) -> Table:
    if comp.quality_task == "classification":
        header = ["run", "dataset", "classes", *[label for _, label in CLASSIFICATION_METRICS], "samples"]
        rows = []
        for run in comp.quality_runs:
            q = run.quality or {}
            rows.append(
                [
                    run.name,
                    run.component("dataset") or "-",
                    str(q.get("num_classes", "-")),
                    *[fixed(q.get(key)) for key, _ in CLASSIFICATION_METRICS],
                    str(q.get("num_samples", "-")),
                ]
            )
        numeric = [False, False] + [True] * (len(header) - 2)
        return Table("quality", "Classification quality on each run's test split", header, rows, numeric)
    if comp.quality_task in vision.VISION_TASKS:
        return vision.quality_comparison_table(comp)
    header = ["run", "dataset", *comp.quality_metrics]
    rows = [
        [
            r.name,
            r.component("dataset") or "-",
            *[_scalar((r.quality or {}).get(m)) for m in comp.quality_metrics],
        ]
        for r in comp.quality_runs
    ]
    return Table(
        "quality",
        f"Quality ({comp.quality_task}): the metrics every run reports",
        header,
        rows,
        [False, False] + [True] * len(comp.quality_metrics),
    )


def deltas_table(comp: Comparison) -> Table:
    header = [
        "run",
        "stage",
        "baseline",
        vision.delta_header(comp),
        "median latency change (%)",
        "size change (%)",
    ]
    rows = [
        [
            d.run.name,
            d.run.stage,
            d.baseline.name,
            vision.delta_cell(comp, d),
            signed(d.median_change_pct, 1),
            signed(d.size_change_pct, 1),
        ]
        for d in comp.deltas
    ]
    return Table(
        "deltas",
        "Change against the baseline run (negative latency change: faster)",
        header,
        rows,
        [False, False, False, True, True, True],
    )


def resources_comparison_table(comp: Comparison) -> Table:
    rows = []
    for run in comp.runs:
        for label, series in (("host", run.host_resources), ("target", run.target_resources)):
            if series is not None:
                rows.append([run.name, label, *resource_row(series)])
    return Table(
        "resources",
        "Resource use during each benchmark",
        ["run", "side", *RESOURCE_HEADER],
        rows,
        [False, False] + [True] * len(RESOURCE_HEADER),
    )


def provenance_comparison_table(comp: Comparison) -> Table:
    rows = []
    for run in comp.runs:
        prov = run.doc.get("provenance") or {}
        python = prov.get("python") or {}
        rows.append(
            [
                run.name,
                str(prov.get("edgeai_version", "-")),
                _versions(prov.get("plugins")),
                _versions(prov.get("frameworks")),
                str(python.get("version", "-")),
                f"{_machine(prov)} ({prov.get('hostname', '?')})",
                _cpu(prov),
                str(prov.get("started_at", "-")),
                str(prov.get("git_sha") or "-")[:12],
            ]
        )
    header = ["run", "edgeai", "plugins", "frameworks", "python", "machine", "CPU", "started", "git"]
    return Table("provenance", "Versions and machines", header, rows, [False] * len(header))
