"""Readable plots: bubble-chart labels that do not overlap (the 9 variants of a demo), heatmap text whose
colour contrasts with its cell."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from edgeai_report.labels import DARK_TEXT, LIGHT_TEXT, cell_text_color, relative_luminance, text_color
from edgeai_report.plots import compare_tradeoff, tradeoff_figure

# one `edgeai demo` (README): accuracy, median latency (ns) and size; seven runs share one accuracy
DEMO = [
    ("torch-eager", 69_900.0, 0.9721, 99_328),
    ("torch-traced", 45_200.0, 0.9721, 99_328),
    ("onnxruntime-float", 11_700.0, 0.9721, 97_690),
    ("onnxruntime-int8", 14_900.0, 0.9721, 34_509),
    ("onnxruntime-remote", 75_400.0, 0.9721, 97_690),
    ("tflite-float", 6_100.0, 0.9749, 99_942),
    ("tflite-int8", 4_400.0, 0.9749, 31_846),
    ("tvm-float", 115_000.0, 0.9721, 175_002),
    ("tvm-int8", 123_200.0, 0.9721, 195_481),
]


def _boxes(
    points: list[tuple[str, float, float, int]],
) -> tuple[list[tuple[float, float, float, float]], object]:
    fig, texts = tradeoff_figure([(n, x, y, s) for n, x, y, s in points], "demo")
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else None
    if renderer is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    boxes = []
    for text in texts:
        extent = text.get_window_extent(renderer)
        boxes.append((extent.x0, extent.y0, extent.x1, extent.y1))
    return boxes, fig


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("points", [DEMO, DEMO[:4], list(reversed(DEMO))], ids=["9", "4", "reversed"])
def test_bubble_labels_do_not_overlap(points: list[tuple[str, float, float, int]]) -> None:
    boxes, fig = _boxes(points)
    assert len(boxes) == len(points)
    overlapping = [(points[i][0], points[j][0]) for i, j in itertools.combinations(range(len(boxes)), 2)
                   if _overlap(boxes[i], boxes[j])]  # fmt: skip
    assert not overlapping
    width, height = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi  # type: ignore[attr-defined]
    assert all(b[0] >= 0 and b[1] >= 0 and b[2] <= width and b[3] <= height for b in boxes)


def test_labels_name_each_point_with_its_size() -> None:
    _, texts = tradeoff_figure([(n, x, y, s) for n, x, y, s in DEMO], "demo")
    assert [t.get_text() for t in texts][:2] == ["torch-eager\n97.0 KiB", "torch-traced\n97.0 KiB"]


def test_the_tradeoff_plot_is_still_saved(tmp_path: Path) -> None:
    plot = compare_tradeoff(DEMO, tmp_path / "tradeoff", "tradeoff", "demo")
    assert plot.png.stat().st_size > 0 and plot.svg.is_file() and (plot.width, plot.height) == (800, 500)


def test_text_colour_by_cell_value() -> None:
    import matplotlib as mpl
    from matplotlib.colors import Normalize

    greens = mpl.colormaps["RdYlGn"]
    norm = Normalize(vmin=0.8, vmax=1.0)
    assert cell_text_color(greens, norm, 1.0) == LIGHT_TEXT  # "1.00" on dark green
    assert cell_text_color(greens, norm, 0.8) == LIGHT_TEXT  # the worst score, dark red
    assert cell_text_color(greens, norm, 0.9) == DARK_TEXT  # yellow in the middle
    assert cell_text_color(greens, norm, float("nan")) == DARK_TEXT  # grey "n/a" cells
    blues = mpl.colormaps["Blues"]
    unit = Normalize(vmin=0.0, vmax=1.0)
    assert cell_text_color(blues, unit, 1.0) == LIGHT_TEXT
    assert cell_text_color(blues, unit, 0.0) == DARK_TEXT
    assert text_color((0.0, 0.0, 0.0)) == LIGHT_TEXT and text_color((1.0, 1.0, 1.0, 1.0)) == DARK_TEXT
    assert relative_luminance((1.0, 1.0, 1.0)) == pytest.approx(1.0)
    assert relative_luminance((0.0, 0.0, 0.0)) == 0.0


def test_the_interrupted_sentence_has_no_stray_period() -> None:
    from edgeai_report.content import interrupted_text

    tail = "The data below is what was recorded before it stopped, and is partial."
    assert interrupted_text("") == tail  # Ctrl-C records no message
    assert interrupted_text(None) == tail
    assert interrupted_text("the target went away.") == f"The target went away. {tail}"
    assert interrupted_text("KeyboardInterrupt") == f"KeyboardInterrupt. {tail}"


def test_rendered_reports_label_memory_as_process_rss(comparison_report: object) -> None:
    files = comparison_report.files  # type: ignore[attr-defined]
    markdown = files["md"].read_text(encoding="utf-8")
    assert "** ." not in markdown and "**Run interrupted in stage benchmark (inferred" in markdown
    assert "process RSS max (MiB)" in markdown and "| RSS max" not in markdown
    assert "not the memory of the model alone" in markdown
    assert "| machine memory (total) |" in markdown
    html = files["html"].read_text(encoding="utf-8")
    assert html.count('<details class="section"') >= 9 + 7
