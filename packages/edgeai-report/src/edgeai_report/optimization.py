"""Training-side optimization in a comparison report: pruning and quantization-aware training against their dense
and post-training-quantized neighbours.

Runs qualify when a step recorded ``pruning`` or ``qat`` in its metadata (edgeai-torch's ``torch-prune`` and
``torch-qat``); once one does, every compared run with an accuracy is placed next to it (the dense model, PTQ
runs). Two figures: accuracy against the fraction of weights removed or zeroed, and accuracy against median
latency, one colour per runtime. The section says plainly when unstructured sparsity bought no speed-up on a
dense runtime, comparing with the dense run of the same model on the same runtime when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_report.document import Bullets, Heading, Image, Inline, Paragraph, Table, text
from edgeai_report.load import Run
from edgeai_report.plots import PALETTE, PlotFile, _figure, _log, _save, _short
from edgeai_report.units import fixed, human_size, time_unit

#: a sparse run counts as faster than its dense neighbour only when its median is at least this much lower
SPEEDUP_THRESHOLD = 0.9
MARKERS = {"dense": "o", "ptq": "s", "qat": "D", "structured": "^", "unstructured": "v"}


@dataclass
class OptimizedRun:
    """One run's place in the optimization section (figures from the step's metadata and the run)."""

    run: Run
    technique: str  # dense | ptq | qat | structured | unstructured
    runtime: str
    removed: float  # fraction of the parameters removed or zero (0 for dense and quantized runs)
    info: dict[str, Any]

    @property
    def label(self) -> str:
        if self.technique == "structured":
            return f"structured {self.info.get('target_ratio', 0):.0%}"
        if self.technique == "unstructured":
            return f"unstructured {self.info.get('sparsity', 0):.0%}"
        return {"dense": "dense", "ptq": "PTQ int8", "qat": "QAT int8"}[self.technique]

    @property
    def median_ns(self) -> float | None:
        return self.run.latency.median if self.run.latency else None

    @property
    def model_key(self) -> tuple[str | None, str | None]:
        return self.run.component("model"), self.run.component("dataset")


def _own_info(run: Run, key: str) -> dict[str, Any] | None:
    """The first step's ``metadata[key]`` (later steps carry it forward)."""
    for step in run.steps:
        value = (step.get("metadata") or {}).get(key)
        if isinstance(value, dict):
            return value
    return None


def optimized_runs(runs: Sequence[Run]) -> list[OptimizedRun]:
    """The runs of the section, or [] when no run pruned or trained with quantization."""
    found: list[OptimizedRun] = []
    for run in runs:
        if run.accuracy is None:
            continue
        runtime = run.component("runtime") or "-"
        pruning, qat = _own_info(run, "pruning"), _own_info(run, "qat")
        if pruning is not None:
            before = pruning.get("parameters_before") or 0
            nonzero = pruning.get("nonzero_parameters", pruning.get("parameters_after", before))
            removed = 1.0 - nonzero / before if before else 0.0
            technique = "structured" if pruning.get("method") == "structured" else "unstructured"
            found.append(OptimizedRun(run, technique, runtime, removed, pruning))
        elif qat is not None:
            found.append(OptimizedRun(run, "qat", runtime, 0.0, qat))
        else:
            technique = "ptq" if "quantized" in run.stage else "dense"
            found.append(OptimizedRun(run, technique, runtime, 0.0, {}))
    if not any(o.technique in ("structured", "unstructured", "qat") for o in found):
        return []
    return found


def plot_jobs(runs: Sequence[Run], img_dir: Path) -> list[Any]:
    """The section's figures (as :class:`edgeai_report.content.PlotJob`), none without optimized runs."""
    from edgeai_report.content import PlotJob

    found = optimized_runs(runs)
    if not found:
        return []
    points = [
        (o.run.name, o.technique, o.runtime, o.removed, float(o.run.accuracy or 0.0), o.median_ns)
        for o in found
    ]
    return [
        PlotJob(
            "optimization-sparsity",
            "optimization:accuracy_vs_sparsity",
            {"points": points, "base": img_dir / "optimization-sparsity", "key": "optimization-sparsity"},
        ),
        PlotJob(
            "optimization-latency",
            "optimization:accuracy_vs_latency",
            {"points": points, "base": img_dir / "optimization-latency", "key": "optimization-latency"},
        ),
    ]


Point = tuple[str, str, str, float, float, "float | None"]


def _colors(points: Sequence[Point]) -> dict[str, str]:
    runtimes = sorted({p[2] for p in points})
    return {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(runtimes)}


def _legend(ax: Any, points: Sequence[Point], colors: dict[str, str]) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", linestyle="", color=c, label=f"runtime {r}") for r, c in colors.items()
    ]
    handles += [
        Line2D([], [], marker=MARKERS[t], linestyle="", color="gray", label=t)
        for t in MARKERS
        if any(p[1] == t for p in points)
    ]
    ax.legend(handles=handles, fontsize=7, loc="lower left")


def _annotate(ax: Any, xs: Sequence[float], ys: Sequence[float], names: Sequence[str]) -> None:
    """Point labels placed so that they do not cover each other (after the limits are set)."""
    from edgeai_report.labels import place_labels

    labels = [_short(n, 28) for n in names]
    place_labels(ax, [float(x) for x in xs], [float(y) for y in ys], labels, [6.0] * len(labels), fontsize=7)


def _ylim(ax: Any, ys: np.ndarray) -> None:
    spread = max(float(ys.max() - ys.min()), 0.02)
    ax.set_ylim(max(0.0, float(ys.min()) - spread * 0.8), min(1.0, float(ys.max()) + spread * 0.5) + 0.005)


def accuracy_vs_sparsity(points: Sequence[Point], base: Path, key: str) -> PlotFile:
    """Accuracy against the fraction of parameters removed (structured) or zero (unstructured)."""
    fig = _figure((8.0, 4.8), left=0.8, bottom=0.6)
    ax = fig.add_subplot()
    colors = _colors(points)
    for _, technique, runtime, removed, accuracy, _ in points:
        ax.scatter(
            [removed * 100], [accuracy], marker=MARKERS[technique], s=70, c=colors[runtime],
            edgecolors="black", linewidths=0.6, zorder=3,
        )  # fmt: skip
    ax.set_xlim(-5, 105)
    _ylim(ax, np.array([p[4] for p in points]))
    _annotate(ax, [p[3] * 100 for p in points], [p[4] for p in points], [p[0] for p in points])
    ax.set_xlabel("parameters removed or zero (%)")
    ax.set_ylabel("accuracy; up is better")
    ax.set_title("Accuracy against sparsity")
    _legend(ax, points, colors)
    caption = (
        "Accuracy on the test split against the share of parameters removed (structured pruning) or set to "
        "zero (unstructured pruning); dense and quantized runs sit at 0."
    )
    return _save(fig, base, key, caption, f"accuracy against sparsity of {len(points)} runs")


def accuracy_vs_latency(points: Sequence[Point], base: Path, key: str) -> PlotFile:
    """Accuracy against median latency, one colour per runtime, one marker per technique."""
    fig = _figure((8.0, 4.8), left=0.8, bottom=0.6)
    ax = fig.add_subplot()
    colors = _colors(points)
    timed = [p for p in points if p[5] is not None]
    unit = time_unit([p[5] for p in timed])
    for _, technique, runtime, _, accuracy, median in timed:
        x = float(median or 0.0) / unit.scale
        ax.scatter(
            [x], [accuracy], marker=MARKERS[technique], s=70, c=colors[runtime],
            edgecolors="black", linewidths=0.6, zorder=3,
        )  # fmt: skip
    if timed:
        xs = [float(p[5] or 0.0) / unit.scale for p in timed]
        log_x = max(xs) / max(min(xs), 1e-12) > 10
        if log_x:  # runtimes an order of magnitude apart
            _log(ax, "x")
            ax.set_xlim(min(xs) / 1.6, max(xs) * 2.5)
        else:
            ax.set_xlim(0, max(xs) * 1.35)
        _ylim(ax, np.array([p[4] for p in timed]))
        _annotate(ax, xs, [p[4] for p in timed], [p[0] for p in timed])
    log_note = ", log scale" if timed and ax.get_xscale() == "log" else ""
    ax.set_xlabel(f"median latency ({unit.label}{log_note}); left is faster")
    ax.set_ylabel("accuracy; up is better")
    ax.set_title("Accuracy against latency, per runtime")
    _legend(ax, timed, colors)
    caption = "Accuracy against median latency; colour: runtime, marker: optimization."
    return _save(fig, base, key, caption, f"accuracy against latency of {len(timed)} runs")


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, (int, float)) else "-"


def _arrow(info: dict[str, Any], key: str) -> str:
    before, after = info.get(f"{key}_before"), info.get(f"{key}_after")
    if before is None:
        return "-"
    return _count(before) if before == after else f"{_count(before)} -> {_count(after)}"


def _dense_neighbour(item: OptimizedRun, found: Sequence[OptimizedRun]) -> OptimizedRun | None:
    for other in found:
        if other.technique == "dense" and other.runtime == item.runtime and other.model_key == item.model_key:
            return other
    return None


def speed_notes(found: Sequence[OptimizedRun]) -> list[str]:
    """Plain statements about unstructured sparsity and latency, one per unstructured run."""
    notes: list[str] = []
    for item in found:
        if item.technique != "unstructured":
            continue
        sparsity = item.info.get("sparsity", 0.0)
        dense = _dense_neighbour(item, found)
        macs = (
            "its MAC count is unchanged"
            if item.info.get("macs_before") == item.info.get("macs_after")
            else ""
        )
        size = item.info.get("file_bytes"), item.info.get("deflate_bytes")
        shrink = (
            f"; what it buys is a smaller compressed file ({human_size(size[0])} raw, {human_size(size[1])} "
            "zip-deflated)"
            if None not in size
            else ""
        )
        mine, theirs = item.median_ns, dense.median_ns if dense else None
        if dense is not None and mine is not None and theirs is not None:
            unit = time_unit([mine, theirs])
            if mine < SPEEDUP_THRESHOLD * theirs:
                notes.append(
                    f"{item.run.name}: {sparsity:.0%} unstructured sparsity ran faster on {item.runtime} than the "
                    f"dense {dense.run.name} (median {unit.fmt(mine)} vs {unit.fmt(theirs)} {unit.label})."
                )
                continue
            notes.append(
                f"{item.run.name}: {sparsity:.0%} unstructured sparsity gives no speed-up on {item.runtime}, a "
                f"dense runtime (median {unit.fmt(mine)} vs {unit.fmt(theirs)} {unit.label} for the dense "
                f"{dense.run.name}): the zero weights are still multiplied and {macs or 'every weight is kept'}"
                f"{shrink}."
            )
        else:
            notes.append(
                f"{item.run.name}: {sparsity:.0%} unstructured sparsity; {item.runtime} runs dense kernels, so "
                f"zero weights are still multiplied ({macs or 'no layer got smaller'}) and no speed-up is "
                f"expected; no dense run on {item.runtime} was compared to measure it{shrink}."
            )
    return notes


def blocks(runs: Sequence[Run], plots: dict[str, PlotFile]) -> list[Any]:
    """The report section: figures, the table of what each step measured, and the plain notes."""
    found = optimized_runs(runs)
    if not found:
        return []
    out: list[Any] = [Heading(2, "Pruning and quantization-aware training", "optimization")]
    for key in ("optimization-sparsity", "optimization-latency"):
        if key in plots:
            out.append(Image(plots[key]))
    unit = time_unit([o.median_ns for o in found])
    header = [
        "run",
        "runtime",
        "optimization",
        "parameters",
        "zero weights",
        "MACs / sample",
        "step file (raw / deflate)",
        "accuracy",
        f"median ({unit.label})",
    ]
    rows = []
    for o in found:
        info = o.info
        raw, deflated = info.get("file_bytes"), info.get("deflate_bytes")
        files = (
            f"{human_size(raw)} / {human_size(deflated)}" if raw is not None and deflated is not None else "-"
        )
        rows.append(
            [
                o.run.name,
                o.runtime,
                o.label,
                _arrow(info, "parameters"),
                f"{info['sparsity']:.1%}" if isinstance(info.get("sparsity"), (int, float)) else "-",
                _arrow(info, "macs"),
                files,
                fixed(o.run.accuracy),
                unit.fmt(o.median_ns),
            ]
        )
    out.append(
        Table(
            "optimization",
            "What the pruning and QAT steps measured (parameters and MACs before -> after the step)",
            header,
            rows,
            [False, False, False, True, True, True, True, True, True],
        )
    )
    notes: list[Inline] = [text(n) for n in speed_notes(found)]
    structured = [o for o in found if o.technique == "structured"]
    for o in structured:
        notes.append(
            text(
                f"{o.run.name}: structured pruning removed channels, so every runtime runs a smaller network "
                f"({_arrow(o.info, 'macs')} MACs per sample)."
            )
        )
    if notes:
        out.append(Bullets(notes))
    else:
        out.append(Paragraph(text("No unstructured or structured pruning among these runs.")))
    return out
