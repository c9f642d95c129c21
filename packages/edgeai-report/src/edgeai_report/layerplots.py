"""Figures of per-layer profiles and per-layer numerics (drawn like :mod:`edgeai_report.plots`, from plain data).

``layer_times``: one run's top layers by mean time, horizontal bars labelled with the ONNX node(s) each maps to.
``error_growth``: a quantized step's relative error per tensor along the graph, with the error each layer added.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeai_report.plots import PALETTE, PlotFile, _figure, _label_inches, _log, _save

#: bars a layer-time figure shows
TOP_BARS = 15


def layer_times_size(rows: int, label_inches: float) -> tuple[float, float]:
    return (max(7.0, label_inches + 5.0), 0.9 + 0.24 * max(rows, 1))


def layer_times(
    layers: Sequence[tuple[str, float, bool]], base: Path, key: str, title: str, total_us: float | None
) -> PlotFile:
    """``layers``: (label, mean us, mapped to an ONNX node) per layer, longest first."""
    shown = list(layers)[:TOP_BARS]
    labels = [label if len(label) <= 60 else label[:57] + "..." for label, _, _ in shown]
    inches = _label_inches(labels, 8)
    fig = _figure(layer_times_size(len(shown), inches), left=inches + 0.1, bottom=0.5, top=0.4)
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    values = [us for _, us, _ in shown]
    colors = [PALETTE[0] if known else PALETTE[7] for _, _, known in shown]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean time per run (us)")
    ax.set_title(title)
    grey = sum(1 for _, _, known in shown if not known)
    caption = f"Top {len(shown)} layers by mean time per run"
    if total_us:
        caption += f" (the whole model took {total_us:.1f} us per profiled run)"
    caption += "; grey bars: no ONNX node known." if grey else "."
    return _save(fig, base, key, caption, f"{title}: per-layer times")


def error_growth(
    rows: Sequence[tuple[str, float, float]], marked: Sequence[str], base: Path, key: str, title: str
) -> PlotFile:
    """``rows``: (tensor label, relative error, added error) in graph order; ``marked``: labels to name."""
    size = (max(7.0, min(14.0, 3.0 + 0.18 * len(rows))), 4.0)
    fig = _figure(size, left=0.8, bottom=1.0)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    relative = np.maximum(np.array([r for _, r, _ in rows], dtype=float), 1e-9)
    added = np.maximum(np.array([a for _, _, a in rows], dtype=float), 0.0)
    floor = float(min(relative.min(), added[added > 0].min() if (added > 0).any() else 1.0)) / 3
    ax.plot(x, relative, color=PALETTE[0], marker="o", markersize=3, linewidth=1.2, label="relative error")
    grows = added > 0
    ax.bar(
        x[grows], added[grows] - floor, bottom=floor, color=PALETTE[1], alpha=0.6, width=0.5,
        label="added by the layer",
    )  # fmt: skip
    _log(ax, "y")
    ax.set_ylim(floor, max(float(relative.max()), float(added.max())) * 2)
    if len(rows) <= 40:
        ax.set_xticks(x, [label for label, _, _ in rows], rotation=45, ha="right", fontsize=7)
    for i, (label, value, _) in enumerate(rows):
        if label in marked:
            ax.annotate(label, (i, max(value, 1e-9)), fontsize=7, xytext=(3, 4), textcoords="offset points")
    ax.set_xlabel("tensor, in graph order")
    ax.set_ylabel("||candidate - reference|| / ||reference||")
    ax.set_title(title)
    ax.legend(loc="upper left")
    caption = "Relative error of each intermediate tensor against the float reference, and the error each layer added."
    return _save(fig, base, key, caption, f"{title}: error growth along the graph")
