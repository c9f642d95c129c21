"""The report's plots, drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state).

Each function draws one figure from plain data (numpy arrays, lists, strings), saves it as PNG and SVG next to
``base`` and returns a :class:`PlotFile`. Plain arguments keep them picklable, so :mod:`edgeai_report.render`
can draw them in worker processes. Long time series are reduced before drawing (a min/median/max envelope per
bucket of calls keeps every spike visible), because drawing 10,000 points per line is what makes reports slow.

Figures are saved at a fixed size (``figsize * DPI``, no tight bounding box), so a plot's pixel size is known
before it is drawn; sizes that depend on the data (the class count of a confusion matrix) come from the
``*_size`` functions, which the tests use too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_report.labels import cell_text_color
from edgeai_report.units import human_size, time_unit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
#: a series longer than this is drawn as an envelope over this many buckets
MAX_POINTS = 1200
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
STAGE_COLORS = {
    "float": "#1f77b4",
    "quantized": "#ff7f0e",
    "compiled": "#2ca02c",
    "quantized+compiled": "#9467bd",
}
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "svg.fonttype": "none",  # text stays text: smaller files, faster to write
    "svg.hashsalt": "edgeai-report",  # stable ids: the same data gives the same SVG
    "path.simplify": True,
}

LATENCY_SIZE = (12.0, 3.8)
TRADEOFF_SIZE = (8.0, 5.0)
COMPARE_RESOURCES_SIZE = (11.5, 4.6)


@dataclass(frozen=True)
class PlotFile:
    """A saved plot: PNG (shown in reports) and SVG (for print and docs), with the PNG's pixel size."""

    key: str
    png: Path
    svg: Path
    width: int
    height: int
    caption: str
    alt: str


def px(size: tuple[float, float]) -> tuple[int, int]:
    """Pixel size of a figure of ``size`` inches."""
    return round(size[0] * DPI), round(size[1] * DPI)


def confusion_size(n_classes: int) -> tuple[float, float]:
    side = min(max(4.6, 0.27 * n_classes + 2.6), 13.0)
    return (round(side + 1.2, 2), round(side, 2))


def per_class_size(n_classes: int) -> tuple[float, float]:
    if n_classes <= 16:
        return (9.0, 3.6)
    return (9.0, round(min(max(3.6, 0.2 * n_classes + 1.2), 16.0), 2))


def resources_size(rows: int) -> tuple[float, float]:
    return (10.0, round(1.9 * rows + 0.7, 2))


def compare_per_class_size(n_runs: int, n_classes: int, label_inches: float) -> tuple[float, float]:
    width = min(max(6.0, label_inches + 0.3 + 0.3 * n_classes + 1.4), 16.0)
    return (round(width, 2), round(2 * (0.3 * n_runs + 0.5) + 2.0, 2))


def compare_latency_size(n_runs: int) -> tuple[float, float]:
    return (round(min(max(6.0, 1.1 * n_runs + 2.0), 16.0), 2), 4.4)


def deltas_size(n_rows: int) -> tuple[float, float]:
    return (10.0, round(max(2.6, 0.42 * n_rows + 1.4), 2))


def _figure(
    size: tuple[float, float],
    *,
    left: float = 0.75,
    right: float = 0.2,
    top: float = 0.4,
    bottom: float = 0.55,
    wspace: float = 0.2,
    hspace: float = 0.2,
) -> Figure:
    """A figure with fixed margins in inches: a layout engine would cost more than the drawing itself."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    width, height = size
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=wspace,
        hspace=hspace,
    )
    return fig


def _log(ax: Any, which: str) -> None:
    """A log scale with plain tick labels (``100``, ``0.5``) and unlabelled minor ticks.

    matplotlib's default log labels are mathtext (``10^2``), and parsing them costs more than drawing the
    figure; plain labels also read better for latencies.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if which == "x":
        ax.set_xscale("log")
    else:
        ax.set_yscale("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(LogLocator(base=10, numticks=8))
    axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0), numticks=8))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _label_inches(labels: Sequence[str], fontsize: float) -> float:
    """Rough width of the longest label: tick labels need that much margin."""
    longest = max((len(str(label)) for label in labels), default=1)
    return 0.2 + longest * fontsize * 0.62 / 72


def _save(fig: Figure, base: Path, key: str, caption: str, alt: str) -> PlotFile:
    png, svg = base.with_suffix(".png"), base.with_suffix(".svg")
    # zlib level 3 instead of 6: a third faster to encode, files a few percent larger
    fig.savefig(png, dpi=DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 3})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    width, height = px((fig.get_figwidth(), fig.get_figheight()))
    return PlotFile(key=key, png=png, svg=svg, width=width, height=height, caption=caption, alt=alt)


def _envelope(values: np.ndarray, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, low, mid, high): the series itself, or per-bucket min, median and max when it is long."""
    n = len(values)
    x = np.arange(start, start + n, dtype=float)
    if n <= MAX_POINTS:
        return x, values, values, values
    edges = np.linspace(0, n, MAX_POINTS + 1).astype(int)
    idx = edges[:-1]
    low = np.minimum.reduceat(values, idx)
    high = np.maximum.reduceat(values, idx)
    # medians per bucket: equal-width buckets (one extra sample in some), sorted row-wise
    width = int(np.min(np.diff(edges)))
    trimmed = np.stack([values[a : a + width] for a in idx])
    mid = np.median(trimmed, axis=1)
    centers = (edges[:-1] + edges[1:] - 1) / 2 + start
    return centers.astype(float), low, mid, high


def _wide(values: np.ndarray) -> bool:
    """Whether a latency distribution spans enough to need a log axis (long tails of rare stalls)."""
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size < 2:
        return False
    return float(finite.max()) / float(finite.min()) > 30


def latency(
    series: Sequence[tuple[str, np.ndarray, np.ndarray]], base: Path, key: str, title: str
) -> PlotFile:
    """Left: the latency of every call in order (warm-up calls at negative call numbers, shaded), with the
    median and p99; right: the histogram of the measured calls (log-spaced bins when the tail is long).

    ``series`` holds (label, measured samples in ns, warm-up samples in ns): the host's calls and, for a
    remote run, the target's own inference times.
    """
    fig = _figure(LATENCY_SIZE, left=0.75, right=0.25, top=0.45, bottom=0.6)
    timeline, histogram = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.1, 1.0], "wspace": 0.22})
    measured = [s.astype(float) for _, s, _ in series if s.size]
    everything = np.concatenate([np.concatenate([m, w]) for _, m, w in series]).astype(float)
    pool = np.concatenate(measured) if measured else everything
    unit = time_unit([float(np.median(pool))] if pool.size else [])
    wide = _wide(everything)
    for i, (label, samples, warmup) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        if warmup.size:
            wx, _, wm, _ = _envelope(warmup.astype(float) / unit.scale, start=-len(warmup))
            timeline.plot(wx, wm, color=color, alpha=0.45, linewidth=0.8)
        if not samples.size:
            continue
        values = samples.astype(float) / unit.scale
        x, low, mid, high = _envelope(values)
        if len(x) < len(values):
            timeline.fill_between(x, low, high, color=color, alpha=0.25, linewidth=0, step="mid")
        timeline.plot(x, mid, color=color, linewidth=0.8, label=f"{label} (n={samples.size})")
        median = float(np.median(values))
        p99 = float(np.quantile(values, 0.99, method="inverted_cdf"))
        for ax in (timeline, histogram):
            line = ax.axhline if ax is timeline else ax.axvline
            for value, style, name in ((median, "--", "median"), (p99, ":", "p99")):
                legend = f"{name} {value:.4g} {unit.label}" if ax is timeline else None
                line(value, color=color, linestyle=style, linewidth=1, label=legend)
        low_v, high_v = float(values.min()), float(values.max())
        if high_v <= low_v:
            high_v = low_v * 1.01 + 1e-9
        bins = np.geomspace(max(low_v, 1e-12), high_v, 70) if wide else np.linspace(low_v, high_v, 70)
        counts, edges = np.histogram(values, bins=bins)
        histogram.stairs(counts, edges, fill=True, alpha=0.35, color=color)
        histogram.stairs(counts, edges, color=color, linewidth=0.8)
    if not measured:
        histogram.text(
            0.5,
            0.5,
            "no measured calls",
            transform=histogram.transAxes,
            ha="center",
            va="center",
            color="#777777",
        )
    warm = max((len(w) for _, _, w in series), default=0)
    if warm:
        timeline.axvspan(-warm, 0, color="#999999", alpha=0.15, linewidth=0, label="warm-up (excluded)")
    if wide:
        _log(timeline, "y")
        _log(histogram, "x")
    _log(histogram, "y")
    timeline.set_xlabel("call number")
    timeline.set_ylabel(f"latency ({unit.label}{', log scale' if wide else ''})")
    timeline.set_title(title)
    timeline.legend(loc="upper right", ncol=2)
    histogram.set_xlabel(f"latency ({unit.label})")
    histogram.set_ylabel("calls (log scale)")
    histogram.set_title("distribution (dashed: median, dotted: p99)")
    caption = (
        "Latency of each call in order (a long run is drawn as the median with a min-max band per bucket of "
        "calls) and its histogram; warm-up calls are excluded from the statistics."
    )
    return _save(fig, base, key, caption, f"{title}: latency per call and histogram")


def resources(sides: Sequence[tuple[str, dict[str, Any]]], base: Path, key: str, title: str) -> PlotFile:
    """CPU % and RSS over time for the host and the target, plus any probe metric (GPU load, power).

    Each side is (label, {"t_s", "cpu_percent", "system_cpu_percent", "rss_bytes", "probes": {name: values}})
    with NaN for missing readings; a metric without a single reading says so instead of drawing nothing.
    """
    probe_names = sorted({name for _, data in sides for name in data.get("probes", {})})[:4]
    rows = 2 + len(probe_names)
    fig = _figure(resources_size(rows), left=0.85, right=1.9, top=0.4, bottom=0.55)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, gridspec_kw={"hspace": 0.18})[:, 0]
    metrics: list[tuple[str, str, float]] = [
        ("cpu_percent", "process CPU (%)", 1.0),
        ("rss_bytes", "process RSS (MiB)", 1024.0**2),
    ]
    metrics += [(name, name, 1.0) for name in probe_names]
    for ax, (metric, ylabel, scale) in zip(axes, metrics, strict=True):
        drawn = False
        for i, (label, data) in enumerate(sides):
            t = np.asarray(data["t_s"], dtype=float)
            values = data["probes"].get(metric) if metric in probe_names else data.get(metric)
            if values is None or not len(t):
                continue
            y = np.asarray(values, dtype=float)[: len(t)] / scale
            if not np.isfinite(y).any():
                continue
            color = PALETTE[i % len(PALETTE)]
            ax.plot(
                t[: len(y)], y, color=color, linewidth=1.1, marker="." if len(t) < 40 else None, label=label
            )
            if metric == "cpu_percent":
                system = np.asarray(data.get("system_cpu_percent", []), dtype=float)[: len(t)]
                if system.size and np.isfinite(system).any():
                    ax.plot(
                        t[: len(system)],
                        system,
                        color=color,
                        linewidth=0.8,
                        linestyle=":",
                        label=f"{label}: whole system",
                    )
            drawn = True
        if not drawn:
            ax.text(
                0.5, 0.5, "no readings", transform=ax.transAxes, ha="center", va="center", color="#777777"
            )
        ax.set_ylabel(ylabel)
        if drawn:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    axes[0].set_title(title)
    axes[-1].set_xlabel("time since the benchmark started (s)")
    caption = (
        "Resource use sampled during the benchmark (dotted: the whole system's CPU; process RSS: resident "
        "memory of the whole process, not of the model alone)."
    )
    return _save(fig, base, key, caption, f"{title}: CPU and memory over time")


def confusion_matrix(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], base: Path, key: str, title: str
) -> PlotFile:
    """Row-normalized confusion matrix: each row (true class) sums to 1, so the diagonal is sensitivity.

    Font sizes follow the class count; the non-zero cells are labelled up to 20 classes (as fractions up to
    12, as percentages above), and none beyond, where the colours alone stay readable.
    """
    counts = np.asarray(matrix, dtype=float)
    n = counts.shape[0]
    support = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.where(support > 0, counts / np.where(support > 0, support, 1), np.nan)
    names = (
        [_short(name, 14) for name in class_names] if len(class_names) == n else [str(i) for i in range(n)]
    )
    tick_font = 9.0 if n <= 12 else 8.0 if n <= 25 else 7.0 if n <= 45 else max(4.5, 7.0 - (n - 45) / 20)
    rotate = n > 10 or max(map(len, names), default=1) > 3
    margin = _label_inches(names, tick_font)
    size = confusion_size(n)
    fig = _figure(size, left=margin + 0.45, right=1.15, top=0.45, bottom=(margin if rotate else 0.3) + 0.45)
    ax = fig.add_subplot()
    import matplotlib as mpl

    cmap = mpl.colormaps["Blues"].with_extremes(bad="#dddddd")
    image = ax.imshow(
        np.ma.masked_invalid(normalized), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    cax = fig.add_axes((1 - 1.0 / size[0], 0.45 / size[1] + 0.1, 0.18 / size[0], 0.6))
    fig.colorbar(image, cax=cax, label="fraction of the true class")
    ax.set_xticks(range(n), names, fontsize=tick_font, rotation=90 if rotate else 0)
    ax.set_yticks(range(n), names, fontsize=tick_font)
    ax.grid(False)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 20:
        cell_font = 8 if n <= 12 else 6
        for r, c in zip(*np.nonzero(counts), strict=True):
            value = normalized[r, c]
            if not np.isfinite(value):
                continue
            label = f"{value:.2f}" if n <= 12 else f"{value * 100:.0f}"
            ax.text(
                c,
                r,
                label,
                ha="center",
                va="center",
                fontsize=cell_font,
                color=cell_text_color(cmap, image.norm, float(value)),
            )
    ax.set_title(title)
    note = "" if n <= 12 else (", cells in %" if n <= 20 else "; too many classes to label the cells")
    caption = f"Confusion matrix of {n} classes, each row normalized by its true-class count (empty cells: 0{note})."
    return _save(fig, base, key, caption, f"{title}: normalized confusion matrix, {n} classes")


def per_class(
    precision: Sequence[float | None],
    sensitivity: Sequence[float | None],
    class_names: Sequence[str],
    base: Path,
    key: str,
    title: str,
) -> PlotFile:
    """Precision and sensitivity (recall) of every class side by side; undefined values marked n/a."""
    n = len(precision)
    prec = np.array([math.nan if v is None else v for v in precision], dtype=float)
    sens = np.array([math.nan if v is None else v for v in sensitivity], dtype=float)
    names = (
        [_short(name, 18) for name in class_names] if len(class_names) == n else [str(i) for i in range(n)]
    )
    horizontal = n > 16
    font = (8.0 if n <= 30 else 7.0 if n <= 50 else 5.5) if horizontal else 8.0
    slanted = not horizontal and max(map(len, names), default=1) > 3
    if horizontal:
        fig = _figure(per_class_size(n), left=_label_inches(names, font) + 0.2, top=0.45, bottom=0.55)
    else:
        fig = _figure(
            per_class_size(n), bottom=(_label_inches(names, font) * 0.75 if slanted else 0.3) + 0.35
        )
    ax = fig.add_subplot()
    pos = np.arange(n, dtype=float)
    width = 0.4
    for offset, values, label, color in (
        (-width / 2, prec, "precision", PALETTE[0]),
        (width / 2, sens, "sensitivity", PALETTE[1]),
    ):
        if horizontal:
            ax.barh(pos + offset, np.nan_to_num(values, nan=0.0), width, label=label, color=color)
        else:
            ax.bar(pos + offset, np.nan_to_num(values, nan=0.0), width, label=label, color=color)
        for i in np.flatnonzero(~np.isfinite(values)):
            x, y = (0.02, pos[i] + offset) if horizontal else (pos[i] + offset, 0.02)
            ax.text(
                x,
                y,
                "n/a",
                fontsize=6,
                rotation=0 if horizontal else 90,
                va="center" if horizontal else "bottom",
                ha="left" if horizontal else "center",
            )
    if horizontal:
        ax.set_yticks(pos, names, fontsize=font)
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("score")
    else:
        ax.set_xticks(
            pos, names, fontsize=font, rotation=45 if slanted else 0, ha="right" if slanted else "center"
        )
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("score")
    ax.legend(loc="lower right" if horizontal else "lower left", ncol=2, frameon=True)
    ax.set_title(title)
    caption = "Per-class precision and sensitivity (recall); n/a where a class was never predicted or absent."
    return _save(fig, base, key, caption, f"{title}: per-class precision and sensitivity")


def compare_latency(series: Sequence[tuple[str, np.ndarray]], base: Path, key: str, title: str) -> PlotFile:
    """Latency distributions of several runs side by side (violins on a log axis when they span decades)."""
    medians = [float(np.median(s)) for _, s in series]
    unit = time_unit(medians)
    data = [s.astype(float) / unit.scale for _, s in series]
    wide = any(_wide(d) for d in data) or (max(medians) / max(min(medians), 1e-12) > 30)
    labels = [_short(label, 22) for label, _ in series]
    slanted = len(series) > 3
    size = compare_latency_size(len(series))
    fig = _figure(size, left=0.8, bottom=(_label_inches(labels, 8) * 0.45 if slanted else 0.3) + 0.25)
    ax = fig.add_subplot()
    shown = [np.log10(np.maximum(d, 1e-12)) if wide else d for d in data]
    pos = np.arange(1, len(series) + 1)
    for i, d in enumerate(shown):
        y, density = _density(d)
        half = 0.4 * density / max(float(density.max()), 1e-12)
        ax.fill_betweenx(
            y, pos[i] - half, pos[i] + half, color=PALETTE[i % len(PALETTE)], alpha=0.55, linewidth=0
        )
        q = np.quantile(d, [0.5, 0.99], method="inverted_cdf")
        ax.plot([pos[i] - 0.28, pos[i] + 0.28], [q[0], q[0]], color="black", linewidth=1.6)
        ax.plot([pos[i] - 0.18, pos[i] + 0.18], [q[1], q[1]], color="black", linewidth=1.0, linestyle=":")
    if wide:
        lo = math.floor(min(float(d.min()) for d in shown))
        hi = math.ceil(max(float(d.max()) for d in shown))
        ticks = np.arange(lo, hi + 1)
        ax.set_yticks(ticks, [f"{10.0**t:g}" for t in ticks])
        ax.set_ylim(lo, hi)
    ax.set_xticks(pos, labels, rotation=25 if slanted else 0, ha="right" if slanted else "center", fontsize=8)
    ax.set_xlim(0.4, len(series) + 0.6)
    ax.set_ylabel(f"latency ({unit.label}{', log scale' if wide else ''})")
    ax.set_title(title)
    caption = "Measured latency per run (host side): density, median (solid) and p99 (dotted)."
    return _save(fig, base, key, caption, f"{title}: latency distributions of {len(series)} runs")


def compare_tradeoff(
    points: Sequence[tuple[str, float, float, int | None]],
    base: Path,
    key: str,
    title: str,
    metric_label: str = "accuracy",
) -> PlotFile:
    """Accuracy (or ``metric_label``) against median latency; bubble area proportional to the model file size."""
    fig, _ = tradeoff_figure(points, title, metric_label)
    shown = "Accuracy" if metric_label == "accuracy" else metric_label
    caption = f"{shown} against median latency; bubble area is proportional to the model file size."
    return _save(fig, base, key, caption, f"{title}: {metric_label}, latency and size of {len(points)} runs")


def tradeoff_figure(
    points: Sequence[tuple[str, float, float, int | None]], title: str, metric_label: str = "accuracy"
) -> tuple[Figure, list[Any]]:
    """The figure of :func:`compare_tradeoff` and its point labels (placed so they do not overlap)."""
    from edgeai_report.labels import place_labels

    fig = _figure(TRADEOFF_SIZE, left=0.8, bottom=0.6)
    ax = fig.add_subplot()
    unit = time_unit([p[1] for p in points])
    sizes = [p[3] for p in points if p[3]]
    biggest = max(sizes) if sizes else 1
    xs = np.array([p[1] / unit.scale for p in points])
    ys = np.array([p[2] for p in points])
    areas = np.array([60 + 1400 * (p[3] or 0) / biggest for p in points])
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(points))]
    ax.scatter(xs, ys, s=areas, c=colors, alpha=0.6, edgecolors="black", linewidths=0.6, zorder=3)
    log_x = len(xs) > 0 and xs.max() / max(xs.min(), 1e-12) > 10
    if log_x:
        _log(ax, "x")
        ax.set_xlim(xs.min() / 1.6, xs.max() * 2.5)
    else:
        span = max(float(xs.max() - xs.min()), float(xs.max()) * 0.1, 1e-9)
        ax.set_xlim(max(0.0, float(xs.min()) - span * 0.3), float(xs.max()) + span * 0.6)
    spread = max(float(ys.max() - ys.min()), 0.02)
    ax.set_ylim(max(0.0, float(ys.min()) - spread * 0.6), min(1.0, float(ys.max()) + spread * 0.6) + 0.005)
    labels = [f"{_short(label, 24)}\n{human_size(size)}" for label, _, _, size in points]
    ax.set_xlabel(f"median latency ({unit.label}{', log scale' if log_x else ''}); left is faster")
    ax.set_ylabel(f"{metric_label}; up is better")
    ax.set_title(title)
    texts = place_labels(
        ax, xs.tolist(), ys.tolist(), labels, [math.sqrt(a / math.pi) for a in areas], fontsize=7
    )
    return fig, texts


def compare_deltas(
    rows: Sequence[tuple[str, str, float | None, float | None]],
    baseline: str,
    base: Path,
    key: str,
    title: str,
    metric_label: str = "accuracy",
) -> PlotFile:
    """Per-stage change against the baseline run: accuracy in percentage points, median latency as a ratio.

    ``rows`` are (run label, stage, accuracy delta in points, median latency change in %), in stage order.
    """
    labels = [f"{_short(label, 48)} ({stage})" for label, stage, _, _ in rows]
    fig = _figure(deltas_size(len(rows)), left=_label_inches(labels, 7.5) + 0.1, top=0.6, bottom=0.6)
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"wspace": 0.08})
    pos = np.arange(len(rows), dtype=float)
    colors = [STAGE_COLORS.get(stage, "#7f7f7f") for _, stage, _, _ in rows]
    points = np.array([math.nan if r[2] is None else r[2] for r in rows], dtype=float)
    left.barh(pos, np.nan_to_num(points, nan=0.0), color=colors, height=0.6)
    left.axvline(0, color="black", linewidth=0.8)
    finite = points[np.isfinite(points)]
    extent = max(float(np.abs(finite).max()) if finite.size else 0.0, 0.5)
    left.set_xlim(-extent * 1.45, extent * 1.45)
    left.set_xlabel(f"{metric_label} change (percentage points)")
    # latency as a ratio on a log axis: 0.2x and 5x are equally far from 1x, unlike -80 % and +400 %
    ratios = np.array([math.nan if r[3] is None else 1.0 + r[3] / 100.0 for r in rows], dtype=float)
    ratios[ratios <= 0] = math.nan
    shown = np.where(np.isfinite(ratios), ratios, 1.0)
    right.barh(pos, shown - 1.0, left=1.0, color=colors, height=0.6)
    right.axvline(1.0, color="black", linewidth=0.8)
    logs = np.abs(np.log10(ratios[np.isfinite(ratios)]))
    span = max(float(logs.max()) if logs.size else 0.0, 0.1) * 1.5
    right.set_xlim(10**-span, 10**span)
    _log(right, "x")
    right.set_xlabel("median latency / baseline (log scale); left is faster")
    for ax, values, texts in (
        (left, points, [f"{v:+.2f}" for v in points]),
        (right, ratios, [f"{(v - 1) * 100:+.1f}%" for v in ratios]),
    ):
        origin = 0.0 if ax is left else 1.0
        for i, v in enumerate(values):
            ok = bool(np.isfinite(v))
            ahead = not ok or v >= origin
            ax.annotate(
                "n/a" if not ok else texts[i],
                (v if ok else origin, pos[i]),
                textcoords="offset points",
                xytext=(4 if ahead else -4, 0),
                va="center",
                ha="left" if ahead else "right",
                fontsize=7,
            )
    left.set_yticks(pos, labels, fontsize=7.5)
    left.set_ylim(len(rows) - 0.5, -0.5)
    fig.suptitle(f"{title} (baseline: {_short(baseline, 60)})", fontsize=10)
    caption = f"Change of each run against the baseline ({baseline}), ordered float, quantized, compiled."
    return _save(fig, base, key, caption, f"{title}: per-stage accuracy and latency deltas")


def compare_per_class(
    labels: Sequence[str],
    class_names: Sequence[str],
    precision: Sequence[Sequence[float | None]],
    sensitivity: Sequence[Sequence[float | None]],
    base: Path,
    key: str,
    title: str,
) -> PlotFile:
    """Precision (top) and sensitivity (bottom) of every class for every run, as two heatmaps (run x class).

    The cells are labelled when the grid is small enough to read (up to 12 classes and 12 runs).
    """
    import matplotlib as mpl

    names = [_short(name, 12) for name in class_names]
    runs = [_short(label, 30) for label in labels]
    margin = _label_inches(runs, 8)
    n, m = len(names), len(runs)
    size = compare_per_class_size(m, n, margin)
    rotate = n > 10 or max(map(len, names), default=1) > 3
    fig = _figure(
        size,
        left=margin + 0.1,
        right=1.1,
        top=0.45,
        bottom=(_label_inches(names, 7) if rotate else 0.3) + 0.2,
    )
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"hspace": 0.25})
    cmap = mpl.colormaps["RdYlGn"].with_extremes(bad="#dddddd")
    grids = [
        np.array([[math.nan if v is None else v for v in row] for row in values], dtype=float)
        for values in (precision, sensitivity)
    ]
    finite = np.concatenate([g[np.isfinite(g)] for g in grids])
    # the scale starts a little below the worst score, so 0.91 and 1.00 do not look alike
    vmin = float(np.clip(math.floor(float(finite.min()) * 10) / 10 - 0.1, 0.0, 0.9)) if finite.size else 0.0
    image = None
    for ax, grid, name in ((top, grids[0], "precision"), (bottom, grids[1], "sensitivity")):
        image = ax.imshow(
            np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=1.0, aspect="auto", interpolation="nearest"
        )
        ax.set_yticks(range(m), runs, fontsize=8)
        ax.set_ylabel(name)
        ax.grid(False)
        if n <= 12 and m <= 12:
            for (r, c), value in np.ndenumerate(grid):
                ax.text(
                    c,
                    r,
                    "n/a" if not np.isfinite(value) else f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=cell_text_color(cmap, image.norm, float(value)),  # 1.00 on dark green: white
                )
    bottom.set_xticks(range(n), names, fontsize=7 if n > 12 else 8, rotation=90 if rotate else 0)
    bottom.set_xlabel("class")
    top.set_title(title)
    cax = fig.add_axes((1 - 0.9 / size[0], 0.25, 0.15 / size[0], 0.5))
    if image is not None:
        fig.colorbar(image, cax=cax, label="score")
    caption = (
        f"Per-class precision and sensitivity of every run (colour scale from {vmin:.1f}; grey: undefined)."
    )
    return _save(fig, base, key, caption, f"{title}: per-class precision and sensitivity of {m} runs")


def compare_resources(
    sides: Sequence[tuple[str, dict[str, Any]]], base: Path, key: str, title: str
) -> PlotFile:
    """Process CPU % and RSS over each run's benchmark, all runs on one time axis (targets dashed)."""
    fig = _figure(COMPARE_RESOURCES_SIZE, left=0.85, right=2.9, top=0.4, bottom=0.55)
    cpu_ax, rss_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"hspace": 0.18})
    for i, (label, data) in enumerate(sides):
        color = PALETTE[i % len(PALETTE)]
        style = "--" if data.get("target") else "-"
        t = np.asarray(data["t_s"], dtype=float)
        for ax, metric, scale in ((cpu_ax, "cpu_percent", 1.0), (rss_ax, "rss_bytes", 1024.0**2)):
            y = np.asarray(data[metric], dtype=float)[: len(t)] / scale
            if np.isfinite(y).any():
                ax.plot(t[: len(y)], y, color=color, linestyle=style, linewidth=1.1, label=_short(label, 34))
    cpu_ax.set_ylabel("process CPU (%)")
    rss_ax.set_ylabel("process RSS (MiB)")
    rss_ax.set_xlabel("time since the benchmark started (s)")
    cpu_ax.set_title(title)
    cpu_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    caption = (
        "Process CPU and memory (resident set size, the whole process: runtime, framework and model) of every "
        "run during its benchmark (dashed: the target side)."
    )
    return _save(fig, base, key, caption, f"{title}: CPU and memory of every run over time")


def _density(values: np.ndarray, bins: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A violin's outline: a histogram smoothed with a Gaussian kernel (Scott's bandwidth), on a fine grid.

    Binning first makes it O(n + bins^2) instead of the O(n * points) of a direct kernel density estimate.
    """
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.array([low - 0.5, low, low + 0.5]), np.array([0.0, 1.0, 0.0])
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centers = (edges[:-1] + edges[1:]) / 2
    step = centers[1] - centers[0]
    bandwidth = max(float(np.std(values)) * values.size ** (-1 / 5), step)
    offsets = np.arange(-int(3 * bandwidth / step) - 1, int(3 * bandwidth / step) + 2) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
    pad = len(offsets) // 2
    density = np.convolve(np.pad(counts.astype(float), pad), kernel, mode="same")
    grid = np.concatenate(
        [centers[0] - step * np.arange(pad, 0, -1), centers, centers[-1] + step * np.arange(1, pad + 1)]
    )
    return grid, density


def _short(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "~"


def qps_curve(**kwargs: Any) -> PlotFile:
    """The QPS search curve of a server scenario (drawn by :mod:`edgeai_report.scenarios`)."""
    from edgeai_report.scenarios import qps_curve as draw

    return draw(**kwargs)


# the per-layer figures live in their own module; drawn by name from here like the others
from edgeai_report.layerplots import error_growth as error_growth  # noqa: E402
from edgeai_report.layerplots import layer_times as layer_times  # noqa: E402
