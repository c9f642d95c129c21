"""Readable text on plots: point labels that cover neither each other nor the other points, and a text colour
that contrasts with the cell it sits on.

:func:`place_labels` measures each label's real box (matplotlib's text extent on an Agg renderer) at a ring of
candidate positions around its point, nearest first, and keeps the first position whose box overlaps no label
placed before, no other point's marker and stays inside the axes; where every candidate collides it keeps the
one that overlaps least. Labels placed away from their point get a thin leader line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: distances (points, beyond the marker's radius) of the candidate rings, nearest first
RINGS = (3.0, 14.0, 28.0, 44.0, 62.0, 84.0)
#: directions (degrees) tried on each ring, the preferred ones first: upper right, lower right, left...
ANGLES = (35.0, -35.0, 145.0, -145.0, 0.0, 180.0, 90.0, -90.0, 60.0, -60.0, 120.0, -120.0)
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in display pixels


def _renderer(fig: Any) -> Any:
    canvas = fig.canvas
    if not hasattr(canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
    return canvas.get_renderer()


def _overlap(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def _outside(box: Box, frame: Box) -> float:
    """How much of ``box`` lies outside ``frame`` (pixels of area)."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    return area - _overlap(box, frame)


def _alignment(angle: float) -> tuple[str, str]:
    dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    ha = "left" if dx > 0.3 else "right" if dx < -0.3 else "center"
    va = "bottom" if dy > 0.3 else "top" if dy < -0.3 else "center"
    return ha, va


def place_labels(
    ax: Any,
    xs: Sequence[float],
    ys: Sequence[float],
    labels: Sequence[str],
    radii_pt: Sequence[float],
    *,
    fontsize: float = 7.0,
) -> list[Any]:
    """Annotate point ``i`` (data coordinates ``xs[i], ys[i]``, marker radius ``radii_pt[i]`` in points) with
    ``labels[i]``; return the annotations, in the order of the points."""
    fig = ax.figure
    renderer = _renderer(fig)
    scale = fig.dpi / 72.0
    centers = ax.transData.transform(list(zip(xs, ys, strict=True)))
    markers: list[Box] = [
        (cx - r * scale, cy - r * scale, cx + r * scale, cy + r * scale)
        for (cx, cy), r in zip(centers, radii_pt, strict=True)
    ]
    frame_box = ax.get_window_extent(renderer)
    frame: Box = (frame_box.x0, frame_box.y0, frame_box.x1, frame_box.y1)
    placed: list[Box] = []
    annotations = []
    for i, label in enumerate(labels):
        best: tuple[float, float, float, str, str, Box] | None = None
        probe = ax.annotate(
            label, (xs[i], ys[i]), textcoords="offset points", xytext=(0, 0), fontsize=fontsize
        )
        for ring in RINGS:
            distance = radii_pt[i] + ring
            for angle in ANGLES:
                dx = distance * math.cos(math.radians(angle))
                dy = distance * math.sin(math.radians(angle))
                ha, va = _alignment(angle)
                probe.xyann = (dx, dy)
                probe.set_horizontalalignment(ha)
                probe.set_verticalalignment(va)
                extent = probe.get_window_extent(renderer)
                box: Box = (extent.x0 - 1, extent.y0 - 1, extent.x1 + 1, extent.y1 + 1)
                cost = 10 * sum(_overlap(box, other) for other in placed)
                cost += sum(_overlap(box, m) for j, m in enumerate(markers) if j != i)
                cost += 5 * _outside(box, frame)
                if best is None or cost < best[0]:
                    best = (cost, dx, dy, ha, va, box)
                if cost == 0:
                    break
            if best is not None and best[0] == 0:
                break
        probe.remove()
        assert best is not None
        _, dx, dy, ha, va, box = best
        far = math.hypot(dx, dy) > radii_pt[i] + RINGS[0] + 0.5  # not beside its bubble: a leader line
        annotation = ax.annotate(
            label,
            (xs[i], ys[i]),
            textcoords="offset points",
            xytext=(dx, dy),
            fontsize=fontsize,
            ha=ha,
            va=va,
            arrowprops={
                "arrowstyle": "-",
                "lw": 0.5,
                "color": "#777777",
                "shrinkA": 1,
                "shrinkB": radii_pt[i],
            }
            if far
            else None,
        )
        placed.append(box)
        annotations.append(annotation)
    return annotations


def relative_luminance(rgba: Sequence[float]) -> float:
    """WCAG relative luminance of an RGB(A) colour with components in [0, 1]."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(float(c)) for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


DARK_TEXT = "#222222"
LIGHT_TEXT = "#ffffff"


def text_color(background: Sequence[float]) -> str:
    """White or near-black, whichever contrasts more with ``background`` (WCAG contrast ratio)."""
    lum = relative_luminance(background)
    dark = relative_luminance((0x22 / 255, 0x22 / 255, 0x22 / 255))
    on_dark = (lum + 0.05) / (dark + 0.05)
    on_light = 1.05 / (lum + 0.05)
    return LIGHT_TEXT if on_light > on_dark else DARK_TEXT


def cell_text_color(cmap: Any, norm: Any, value: float) -> str:
    """The text colour for a heatmap cell of ``value`` drawn with ``cmap`` and ``norm`` (grey for NaN)."""
    if not math.isfinite(value):
        return DARK_TEXT
    return text_color(cmap(norm(value)))
