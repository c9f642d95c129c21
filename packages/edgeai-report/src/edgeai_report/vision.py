"""Detection and segmentation in the report: metric tables, per-class bars, precision-recall curves, example
images with their true and predicted boxes or masks, and comparisons against a baseline (mAP / mIoU and
per-class AP / IoU deltas).

A run's quality section for these tasks holds the dataset's metrics plus ``primary``, ``postprocess`` and
``examples`` (edgeai_core.taskeval). Example images are drawn as SVG: the PNG stored in the results is an
``<image>`` and every box a ``<rect>`` in the image's own pixel coordinates (the SVG's ``viewBox``), so what is
drawn is exactly what was recorded, with no image library. Segmentation masks (greyscale PNGs of class
indices) are decoded here (zlib, struct and numpy), coloured with a fixed palette (Pascal VOC's, so class 1 is
always dark red) and encoded again.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_report.document import Drawing, Heading, Image, Paragraph, Table, code, text
from edgeai_report.load import Run
from edgeai_report.plots import PALETTE, PlotFile, _figure, _label_inches, _save, _short
from edgeai_report.units import fixed, signed

if TYPE_CHECKING:
    from edgeai_report.compare import Comparison, DeltaRow
    from edgeai_report.document import Document

VISION_TASKS = ("detection", "segmentation")
#: predicted boxes scoring below this are not drawn on the example images (the caption says so)
SCORE_THRESHOLD = 0.3
TRUTH_COLOR = "#00b050"
PREDICTED_COLOR = "#e8112d"
#: the longest side of an example image on the page (px); small images are enlarged, large ones reduced
PANEL_PX = 256
SEGMENTATION_PANEL_PX = 200
GAP_PX = 12
DETECTION_METRICS = (
    ("map", "mAP@[.5:.95]"),
    ("map_50", "mAP@.5"),
    ("map_75", "mAP@.75"),
    ("map_small", "mAP small"),
    ("map_medium", "mAP medium"),
    ("map_large", "mAP large"),
    ("mar_100", "AR@100"),
)
SEGMENTATION_METRICS = (
    ("miou", "mIoU"),
    ("pixel_accuracy", "pixel accuracy"),
    ("mean_accuracy", "mean accuracy"),
)
#: per task: the per-class list compared between runs, its label, and what a class's support counts
PER_CLASS = {"detection": ("ap", "AP", "objects"), "segmentation": ("iou", "IoU", "pixels")}


def metric_label(metric: str | None) -> str:
    """How a primary metric is written for people (``map`` -> ``mAP@[.5:.95]``)."""
    from edgeai_core.api import PRIMARY_LABEL

    return PRIMARY_LABEL.get(str(metric), str(metric))


def vision_quality(run: Run) -> dict[str, Any] | None:
    """The run's quality section when it holds applicable detection or segmentation metrics."""
    quality = run.quality
    if quality and quality.get("applicable") and quality.get("task") in VISION_TASKS:
        return quality
    return None


def _value(value: Any) -> str:
    """A metric: 4 decimals; -1 (COCO's "nothing to average", e.g. no small objects) as n/a."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return "n/a" if value == -1 else fixed(float(value))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value == -1:
        return None
    return float(value) if math.isfinite(value) else None


def _names(quality: Mapping[str, Any]) -> list[str]:
    names = quality.get("class_names") or []
    count = int(quality.get("num_classes") or len(names))
    return [str(n) for n in names] if len(names) == count else [str(i) for i in range(count)]


def _at(values: Any, i: int) -> Any:
    return values[i] if isinstance(values, list) and i < len(values) else None


# -- checks the schema cannot make ---------------------------------------------------------------------------


def check_quality(quality: Mapping[str, Any], need: Any) -> None:
    """Per-class lists as long as the class count, a square confusion matrix (``need(cond, where, message)``)."""
    n = quality.get("num_classes")
    key = PER_CLASS[str(quality.get("task"))][0]
    for name in (key, "ap_50", "accuracy", "support"):
        values = (quality.get("per_class") or {}).get(name)
        if values is not None:
            need(len(values) == n, f"quality.per_class.{name}", f"must list {n} values (one per class)")
    matrix = quality.get("confusion_matrix")
    if matrix is not None:
        need(
            len(matrix) == n and all(len(row) == n for row in matrix),
            "quality.confusion_matrix",
            f"must be a {n}x{n} list of lists",
        )


# -- PNG without an image library ----------------------------------------------------------------------------


def png_size(data: str) -> tuple[int, int]:
    """(height, width) of a base64 PNG, from its header."""
    raw = base64.b64decode(data[:64])
    if raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", raw[16:24])
    return int(height), int(width)


def decode_png(data: str | bytes) -> np.ndarray:
    """A base64 (or raw) 8-bit PNG as ``(H, W)`` (grey, or palette indices) or ``(H, W, C)`` uint8 samples.

    Enough of PNG for what edgeai writes and what Pillow writes for masks: bit depth 8, colour types grey,
    RGB, palette, grey+alpha and RGBA, every filter type, no interlacing.
    """
    raw = base64.b64decode(data) if isinstance(data, str) else data
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG image")
    pos, header, idat = 8, b"", []
    while pos + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[pos : pos + 4])
        chunk, body = raw[pos + 4 : pos + 8], raw[pos + 8 : pos + 8 + length]
        if chunk == b"IHDR":
            header = body
        elif chunk == b"IDAT":
            idat.append(body)
        elif chunk == b"IEND":
            break
        pos += 12 + length
    if len(header) != 13:
        raise ValueError("PNG without a header")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {colour}, interlace {interlace})")
    stride = width * channels
    rows = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind, line = int(rows[y, 0]), rows[y, 1:].astype(np.int64)
        if kind == 0:
            current = line
        elif kind == 1:  # Sub: a running sum over each channel
            current = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            current = (line + previous) % 256
        else:  # Average and Paeth depend on the pixel just decoded: one byte at a time
            current = np.zeros(stride, dtype=np.int64)
            for x in range(stride):
                left = int(current[x - channels]) if x >= channels else 0
                up = int(previous[x])
                corner = int(previous[x - channels]) if x >= channels else 0
                if kind == 3:
                    guess = (left + up) // 2
                else:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                current[x] = (int(line[x]) + guess) % 256
        out[y] = current
        previous = current
    return out if channels == 1 else out.reshape(height, width, channels)


def voc_palette() -> np.ndarray:
    """The Pascal VOC colour map: 256 RGB colours, class 0 black, 1 dark red, 2 green, 255 light grey."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, rgb = i, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((c >> channel) & 1) << (7 - bit)
            c >>= 3
        palette[i] = rgb
    return palette


PALETTE_RGB = voc_palette()


def colour_mask(data: str) -> tuple[str, np.ndarray]:
    """A class-index PNG (base64) coloured with :data:`PALETTE_RGB`: (base64 RGB PNG, the indices)."""
    from edgeai_core.api import png_base64

    mask = decode_png(data)
    if mask.ndim == 3:  # a mask stored as RGB or grey+alpha: the first channel holds the class
        mask = mask[:, :, 0]
    return png_base64(PALETTE_RGB[mask]), mask


def _hex(index: int) -> str:
    r, g, b = (int(v) for v in PALETTE_RGB[index])
    return f"#{r:02x}{g:02x}{b:02x}"


# -- SVG drawings of the examples ----------------------------------------------------------------------------


def _n(value: float) -> str:
    """A coordinate as SVG text: at most 2 decimals, no trailing zeros (``10``, ``10.5``)."""
    return f"{round(float(value), 2):g}"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _image(png: str, width: int, height: int, cls: str, scale: float) -> str:
    smooth = "" if scale < 2 else ' style="image-rendering:pixelated"'
    return (
        f'<image class="{cls}" href="data:image/png;base64,{png}" x="0" y="0" width="{width}" '
        f'height="{height}" preserveAspectRatio="none"{smooth}/>'
    )


def _svg(width: float, height: float, alt: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" role="img" aria-label="{_esc(alt)}" '
        'font-family="Helvetica, Arial, sans-serif">' + "".join(body) + "</svg>"
    )


def _box(box: Sequence[float], cls: str, colour: str, dashed: bool, title: str) -> str:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    where = f'x="{_n(x0)}" y="{_n(y0)}" width="{_n(x1 - x0)}" height="{_n(y1 - y0)}"'
    return (  # a pale halo under the line keeps it visible on any background
        f'<rect class="halo" {where} fill="none" stroke="#ffffff" stroke-opacity="0.6" stroke-width="4" '
        'vector-effect="non-scaling-stroke"/>'
        f'<rect class="{cls}" {where} '
        f'fill="none" stroke="{colour}" stroke-width="2"{dash} vector-effect="non-scaling-stroke">'
        f"<title>{_esc(title)}</title></rect>"
    )


def _label(box: Sequence[float], words: str, scale: float, height: int) -> str:
    """A predicted box's label and score on a filled tag above the box (inside it at the image's top edge)."""
    size = 11.0 / scale
    x0, y0 = float(box[0]), float(box[1])
    top = y0 - size * 1.25 if y0 - size * 1.25 >= 0 else min(y0, height - size * 1.25)
    width = len(words) * size * 0.6 + size * 0.5
    return (
        f'<rect class="tag" x="{_n(x0)}" y="{_n(top)}" width="{_n(width)}" height="{_n(size * 1.25)}" '
        f'fill="{PREDICTED_COLOR}"/>'
        f'<text x="{_n(x0 + size * 0.25)}" y="{_n(top + size)}" font-size="{_n(size)}" fill="#ffffff">'
        f"{_esc(words)}</text>"
    )


def _class_name(names: Sequence[str], label: Any) -> str:
    i = int(label)
    return names[i] if 0 <= i < len(names) else str(i)


def _first(count: int, quality: Mapping[str, Any]) -> str:
    split = quality.get("split", "test")
    return (
        f"The first image of the {split} split"
        if count == 1
        else f"The first {count} images of the {split} split"
    )


def detection_drawing(run: Run, quality: Mapping[str, Any]) -> Drawing | None:
    """The example images in a grid, true boxes dashed green, predictions (score >= threshold) red."""
    examples = [e for e in quality.get("examples") or [] if isinstance(e, dict) and e.get("image_png")]
    if not examples:
        return None
    names = _names(quality)
    columns = min(4, len(examples))
    caption_px, legend_px = 18, 24
    cell_w, cell_h = PANEL_PX + GAP_PX, PANEL_PX + caption_px + GAP_PX
    rows = math.ceil(len(examples) / columns)
    body: list[str] = []
    for n, example in enumerate(examples):
        truth = example.get("truth") or {}
        predicted = example.get("predicted") or {}
        size = truth.get("image_size")
        height, width = (int(size[0]), int(size[1])) if size else png_size(example["image_png"])
        scale = PANEL_PX / max(height, width, 1)
        x, y = (n % columns) * cell_w, (n // columns) * cell_h
        inner = [_image(str(example["image_png"]), width, height, "example", scale)]
        for box, label in zip(truth.get("boxes") or [], truth.get("labels") or [], strict=False):
            inner.append(_box(box, "truth", TRUTH_COLOR, True, f"true {_class_name(names, label)}"))
        shown = 0
        tags = []
        for box, score, label in zip(
            predicted.get("boxes") or [], predicted.get("scores") or [], predicted.get("labels") or [],
            strict=False,
        ):  # fmt: skip
            if float(score) < SCORE_THRESHOLD:
                continue
            shown += 1
            words = f"{_class_name(names, label)} {float(score):.2f}"
            inner.append(_box(box, "predicted", PREDICTED_COLOR, False, f"predicted {words}"))
            tags.append(_label(box, words, scale, height))
        body.append(
            f'<svg class="example" data-index="{_esc(example.get("index", n))}" x="{_n(x)}" y="{_n(y)}" '
            f'width="{_n(width * scale)}" height="{_n(height * scale)}" viewBox="0 0 {width} {height}">'
            + "".join(inner + tags)
            + "</svg>"
        )
        count = len(truth.get("boxes") or [])
        body.append(
            f'<text x="{_n(x)}" y="{_n(y + height * scale + 13)}" font-size="11" fill="#333333">'
            f"image {_esc(example.get('index', n))}: {count} true, {shown} predicted</text>"
        )
    legend_y = rows * cell_h + 4
    body.append(
        f'<line x1="0" y1="{legend_y + 8}" x2="24" y2="{legend_y + 8}" stroke="{TRUTH_COLOR}" stroke-width="2" '
        f'stroke-dasharray="5 3"/><text x="30" y="{legend_y + 12}" font-size="11">true box</text>'
        f'<line x1="110" y1="{legend_y + 8}" x2="134" y2="{legend_y + 8}" stroke="{PREDICTED_COLOR}" '
        f'stroke-width="2"/><text x="140" y="{legend_y + 12}" font-size="11">predicted box, class and score '
        f"(score &gt;= {SCORE_THRESHOLD:g})</text>"
    )
    alt = f"{run.name}: {len(examples)} example images with true and predicted boxes"
    svg = _svg(max(columns * cell_w - GAP_PX, 420), rows * cell_h + legend_px, alt, body)
    caption = (
        f"{_first(len(examples), quality)}: true boxes dashed green, "
        f"predicted boxes red with their class and score, drawn when the score is at least {SCORE_THRESHOLD:g}."
    )
    return Drawing(f"{run.slug}-examples", svg, f"{run.slug}-examples.svg", caption, alt)


def segmentation_drawing(run: Run, quality: Mapping[str, Any]) -> Drawing | None:
    """Each example as image | true mask | predicted mask, masks in the VOC palette, with a legend."""
    examples = [
        e
        for e in quality.get("examples") or []
        if isinstance(e, dict) and e.get("image_png") and e.get("truth_png") and e.get("predicted_png")
    ]
    if not examples:
        return None
    names = _names(quality)
    ignore = int(quality.get("ignore_index", 255))
    side, title_px, caption_px = SEGMENTATION_PANEL_PX, 16, 18
    row_h = side + caption_px + GAP_PX
    body: list[str] = []
    for column, words in enumerate(("image", "truth", "prediction")):
        body.append(
            f'<text x="{column * (side + GAP_PX)}" y="12" font-size="12" font-weight="bold">{words}</text>'
        )
    present: set[int] = set()
    for n, example in enumerate(examples):
        truth_png, truth = colour_mask(str(example["truth_png"]))
        predicted_png, predicted = colour_mask(str(example["predicted_png"]))
        present |= {int(v) for v in np.unique(truth)} | {int(v) for v in np.unique(predicted)}
        height, width = truth.shape
        scale = side / max(height, width, 1)
        y = title_px + n * row_h
        for column, (png, cls) in enumerate(
            ((str(example["image_png"]), "example"), (truth_png, "truth"), (predicted_png, "predicted"))
        ):
            body.append(
                f'<svg class="{cls}" data-index="{_esc(example.get("index", n))}" x="{column * (side + GAP_PX)}" '
                f'y="{y}" width="{_n(width * scale)}" height="{_n(height * scale)}" '
                f'viewBox="0 0 {width} {height}">{_image(png, width, height, cls, scale)}</svg>'
            )
        valid = truth != ignore
        correct = int(np.count_nonzero((truth == predicted) & valid)) if truth.shape == predicted.shape else 0
        share = correct / max(int(np.count_nonzero(valid)), 1)
        body.append(
            f'<text x="0" y="{_n(y + height * scale + 13)}" font-size="11" fill="#333333">'
            f"image {_esc(example.get('index', n))}: {share:.1%} of its pixels right</text>"
        )
    legend_y = title_px + len(examples) * row_h
    width_px = 3 * (side + GAP_PX) - GAP_PX
    x = 0.0
    for index in sorted(present):
        words = "ignored" if index == ignore else (names[index] if index < len(names) else str(index))
        step = 16 + len(words) * 6.6 + 14
        if x and x + step > width_px:  # many classes: the legend wraps
            x, legend_y = 0.0, legend_y + 18
        body.append(
            f'<rect class="swatch" data-class="{index}" x="{_n(x)}" y="{legend_y}" width="12" height="12" '
            f'fill="{_hex(index)}" stroke="#555555" stroke-width="0.5"/>'
            f'<text x="{_n(x + 16)}" y="{legend_y + 10}" font-size="11">{_esc(words)}</text>'
        )
        x += step
    alt = f"{run.name}: {len(examples)} example images with true and predicted masks"
    svg = _svg(width_px, legend_y + 18, alt, body)
    caption = (
        f"{_first(len(examples), quality)}: the image, the true mask "
        "and the predicted mask, one colour per class (Pascal VOC palette; legend below the images)."
    )
    return Drawing(f"{run.slug}-examples", svg, f"{run.slug}-examples.svg", caption, alt)


def write_drawings(doc: Document, img_dir: Path) -> list[Path]:
    """Save every :class:`Drawing` of ``doc`` as an SVG file in ``img_dir`` (Markdown and RST link to it)."""
    written = []
    for block in doc.blocks:
        if isinstance(block, Drawing):
            block.path = img_dir / block.name
            block.path.write_text(
                '<?xml version="1.0" encoding="utf-8"?>\n' + block.svg + "\n", encoding="utf-8"
            )
            written.append(block.path)
    return written


# -- figures (matplotlib, drawn by edgeai_report.render like the other plots) --------------------------------


def plot_jobs(run: Run, img_dir: Path, *, detail: bool = True) -> list[Any]:
    """The run's figures: per-class AP and PR curves (detection), confusion matrix and per-class IoU."""
    from edgeai_report.content import PlotJob

    quality = vision_quality(run)
    if quality is None:
        return []
    names = _names(quality)
    per = quality.get("per_class") or {}
    base = img_dir / run.slug
    jobs: list[PlotJob] = []
    if quality["task"] == "segmentation" and quality.get("confusion_matrix"):
        key = f"{run.slug}-confusion"
        jobs.append(
            PlotJob(
                key,
                "confusion_matrix",
                {
                    "matrix": quality["confusion_matrix"],
                    "class_names": names,
                    "base": Path(f"{base}-confusion"),
                    "key": key,
                    "title": f"{run.name}: pixel confusion matrix",
                },
            )
        )
    if not detail:
        return jobs
    if quality["task"] == "detection":
        series = [("AP@[.5:.95]", list(per.get("ap") or [])), ("AP@.5", list(per.get("ap_50") or []))]
        what = "AP@[.5:.95] and AP@.5 per class; n/a where a class has no objects in the split"
    else:
        series = [("IoU", list(per.get("iou") or [])), ("accuracy", list(per.get("accuracy") or []))]
        what = "IoU and pixel accuracy (recall) per class; n/a where a class is neither present nor predicted"
    key = f"{run.slug}-per-class"
    jobs.append(
        PlotJob(
            key,
            "vision:per_class_scores",
            {
                "series": series,
                "class_names": names,
                "base": Path(f"{base}-per-class"),
                "key": key,
                "title": f"{run.name}: per-class {series[0][0]}",
                "caption": what[:1].upper() + what[1:] + ".",
            },
        )
    )
    curves = quality.get("pr_curves") or {}
    if quality["task"] == "detection" and curves.get("recall") and curves.get("precision"):
        key = f"{run.slug}-pr-curves"
        ap50 = {name: _at(per.get("ap_50"), i) for i, name in enumerate(names)}
        jobs.append(
            PlotJob(
                key,
                "vision:pr_curves",
                {
                    "recall": list(curves["recall"]),
                    "precision": {str(k): v for k, v in curves["precision"].items()},
                    "ap_50": ap50,
                    "iou": float(curves.get("iou", 0.5)),
                    "base": Path(f"{base}-pr-curves"),
                    "key": key,
                    "title": f"{run.name}: precision and recall",
                },
            )
        )
    return jobs


def per_class_scores(
    series: Sequence[tuple[str, Sequence[float | None]]],
    class_names: Sequence[str],
    base: Path,
    key: str,
    title: str,
    caption: str,
) -> PlotFile:
    """Bars of per-class scores in [0, 1], one colour per series; missing values marked n/a."""
    from edgeai_report.plots import per_class_size

    n = len(class_names)
    names = [_short(name, 18) for name in class_names]
    horizontal = n > 16
    font = 8.0 if n <= 30 else 6.0
    slanted = not horizontal and max(map(len, names), default=1) > 3
    if horizontal:
        fig = _figure(per_class_size(n), left=_label_inches(names, font) + 0.2, top=0.45, bottom=0.55)
    else:
        fig = _figure(
            per_class_size(n), bottom=(_label_inches(names, font) * 0.75 if slanted else 0.3) + 0.35
        )
    ax = fig.add_subplot()
    pos = np.arange(n, dtype=float)
    width = 0.8 / max(len(series), 1)
    for k, (label, values) in enumerate(series):
        found = [_number(_at(list(values), i)) for i in range(n)]
        data = np.array([math.nan if v is None else v for v in found], dtype=float)  # missing: NaN, n/a
        offset = (k - (len(series) - 1) / 2) * width
        bars = np.nan_to_num(data, nan=0.0)
        colour = PALETTE[k % len(PALETTE)]
        if horizontal:
            ax.barh(pos + offset, bars, width, label=label, color=colour)
        else:
            ax.bar(pos + offset, bars, width, label=label, color=colour)
        for missing in np.flatnonzero(~np.isfinite(data)):
            x, y = (0.02, pos[missing] + offset) if horizontal else (pos[missing] + offset, 0.02)
            ax.text(x, y, "n/a", fontsize=6, rotation=0 if horizontal else 90,
                    va="center" if horizontal else "bottom", ha="left" if horizontal else "center")  # fmt: skip
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
    ax.legend(loc="lower right" if horizontal else "upper right", ncol=len(series), frameon=True)
    ax.set_title(title)
    return _save(fig, base, key, caption, f"{title}: {', '.join(s for s, _ in series)} of {n} classes")


#: classes beyond this many get no legend entry in the precision-recall figure
PR_LEGEND_LIMIT = 12


def pr_curves(
    recall: Sequence[float],
    precision: Mapping[str, Sequence[float | None]],
    ap_50: Mapping[str, float | None],
    iou: float,
    base: Path,
    key: str,
    title: str,
) -> PlotFile:
    """Interpolated precision against recall at one IoU threshold, one line per class (COCO's 101 points)."""
    fig = _figure((8.0, 4.6), left=0.7, right=2.3, bottom=0.55)
    ax = fig.add_subplot()
    xs = np.asarray(recall, dtype=float)
    drawn = 0
    for i, (name, values) in enumerate(precision.items()):
        if values is None:
            continue
        ys = np.array([math.nan if v is None or v < 0 else v for v in values], dtype=float)
        if ys.shape != xs.shape or not np.isfinite(ys).any():
            continue
        ap = ap_50.get(name)
        label = f"{_short(name, 16)} (AP {ap:.3f})" if isinstance(ap, (int, float)) and ap >= 0 else name
        legend = label if i < PR_LEGEND_LIMIT else None
        ax.plot(xs, ys, color=PALETTE[i % len(PALETTE)], linewidth=1.4, label=legend, alpha=0.9)
        drawn += 1
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    if drawn:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    more = f" (legend: the first {PR_LEGEND_LIMIT} classes)" if len(precision) > PR_LEGEND_LIMIT else ""
    caption = (
        f"Interpolated precision against recall at IoU {iou:g}, one line per class, AP@{iou:g} in the "
        f"legend{more}; a class without objects in the split has no line."
    )
    return _save(fig, base, key, caption, f"{title}: precision-recall curves of {drawn} classes")


# -- single-run sections -------------------------------------------------------------------------------------


def summary_rows(run: Run) -> list[list[str]]:
    """The summary table's line for a primary metric other than accuracy (mAP, mIoU)."""
    primary = run.primary
    if primary is None or primary[0] == "accuracy":
        return []
    return [[metric_label(primary[0]), fixed(primary[1])]]


def _postprocess(quality: Mapping[str, Any]) -> list[Any]:
    spec = quality.get("postprocess")
    if not isinstance(spec, dict):
        return []
    return [
        Paragraph(
            [("text", "Model outputs decoded with "), *code(json.dumps(spec, sort_keys=True)), ("text", ".")]
        )
    ]


@dataclass(frozen=True)
class _Section:
    """What a task's quality section shows: metric rows, counts, figures and the per-class table."""

    metrics: tuple[tuple[str, str], ...]
    counts: tuple[tuple[str, str], ...]  # (label, quality key)
    caption: str  # {reference}: the metrics' reference implementation, when named
    plots: tuple[str, ...]
    support: str
    per_class: tuple[tuple[str, str], ...]  # (per_class key, column label)
    per_class_caption: str


_SECTIONS = {
    "detection": _Section(
        DETECTION_METRICS,
        (("evaluated images", "num_images"), ("classes", "num_classes"), ("true objects", "num_targets"),
         ("detections", "num_detections")),
        "Detection quality (COCO-style{reference}; n/a: no objects of that size)",
        ("per-class", "pr-curves"),
        "objects",
        (("ap", "AP@[.5:.95]"), ("ap_50", "AP@.5")),
        "Per-class AP (- where a class has no objects in the split)",
    ),
    "segmentation": _Section(
        SEGMENTATION_METRICS,
        (("evaluated images", "num_images"), ("classes", "num_classes"), ("ignored label", "ignore_index")),
        "Segmentation quality (per pixel)",
        ("confusion", "per-class"),
        "pixels",
        (("iou", "IoU"), ("accuracy", "accuracy")),
        "Per-class IoU and accuracy (- where a class is neither present nor predicted)",
    ),
}  # fmt: skip


def quality_blocks(run: Run, plots: dict[str, PlotFile], level: int) -> list[Any]:
    """Tables, figures and examples of a detection or segmentation run (under the Quality heading)."""
    quality = vision_quality(run)
    if quality is None:
        return []
    slug, names, per = run.slug, _names(quality), quality.get("per_class") or {}
    spec = _SECTIONS[quality["task"]]
    rows = [[label, _value(quality.get(key))] for key, label in spec.metrics if key in quality]
    rows += [[label, str(quality.get(key, "-"))] for label, key in (*spec.counts, ("split", "split"))]
    reference = f", {quality['reference']}" if quality.get("reference") else ""
    blocks: list[Any] = [
        Table(f"{slug}-quality-metrics", spec.caption.format(reference=reference), ["metric", "value"], rows,
              [False, True]),
        *_postprocess(quality),
        *(Image(plots[f"{slug}-{key}"]) for key in spec.plots if f"{slug}-{key}" in plots),
    ]  # fmt: skip
    per_rows = [
        [name, str(_at(per.get("support"), i) if _at(per.get("support"), i) is not None else "-"),
         *(_value(_at(per.get(key), i)) for key, _ in spec.per_class)]
        for i, name in enumerate(names)
    ]  # fmt: skip
    header = ["class", spec.support, *(label for _, label in spec.per_class)]
    blocks.append(
        Table(f"{slug}-per-class", spec.per_class_caption, header, per_rows, [False, True, True, True])
    )
    draw = detection_drawing if quality["task"] == "detection" else segmentation_drawing
    try:
        drawing = draw(run, quality)
    except (ValueError, TypeError, IndexError, zlib.error, binascii.Error) as exc:
        blocks.append(Paragraph(text(f"The example images could not be drawn: {exc}.")))
        return blocks
    if drawing is not None:
        blocks += [Heading(level + 1, "Examples", f"{slug}-examples"), drawing]
    elif quality.get("examples") is None:
        blocks.append(
            Paragraph(
                text("No example images recorded (the dataset renders none, or evaluation.examples = 0).")
            )
        )
    return blocks


# -- comparisons ---------------------------------------------------------------------------------------------


def _metrics(task: str) -> tuple[tuple[str, str], ...]:
    return DETECTION_METRICS if task == "detection" else SEGMENTATION_METRICS


def quality_comparison_table(comp: Comparison) -> Table:
    """Each run's detection or segmentation metrics side by side."""
    task = str(comp.quality_task)
    metrics = [
        (k, label) for k, label in _metrics(task) if any(k in (r.quality or {}) for r in comp.quality_runs)
    ]
    header = ["run", "dataset", "stage", *[label for _, label in metrics], "images"]
    rows = [
        [
            r.name,
            r.component("dataset") or "-",
            r.stage,
            *[_value((r.quality or {}).get(k)) for k, _ in metrics],
            str((r.quality or {}).get("num_images", "-")),
        ]
        for r in comp.quality_runs
    ]
    what = (
        "Detection quality (n/a: no objects of that size)" if task == "detection" else "Segmentation quality"
    )
    return Table(
        "quality", f"{what} on each run's test split", header, rows, [False] * 3 + [True] * (len(metrics) + 1)
    )


def delta_header(comp: Comparison) -> str:
    """The deltas table's quality column: accuracy for classification, else the compared metric."""
    metrics = {d.metric for d in comp.deltas if d.metric is not None}
    if not metrics or metrics == {"accuracy"}:
        return "accuracy change (points)"
    if len(metrics) == 1:
        return f"{metric_label(next(iter(metrics)))} change (points)"
    return "quality change (points)"


def delta_cell(comp: Comparison, d: DeltaRow) -> str:
    """One run's quality change; with mixed metrics (accuracy and mAP) each cell names its metric."""
    value = signed(d.accuracy_points)
    if (
        delta_header(comp) == "quality change (points)"
        and d.metric is not None
        and d.accuracy_points is not None
    ):
        return f"{value} ({metric_label(d.metric)})"
    return value


def _pairs(comp: Comparison) -> list[DeltaRow]:
    """Delta rows whose run and baseline both hold applicable metrics of the compared vision task."""
    return [
        d
        for d in comp.deltas
        if comp.quality_task in VISION_TASKS
        and (vision_quality(d.run) or {}).get("task") == comp.quality_task
        and (vision_quality(d.baseline) or {}).get("task") == comp.quality_task
    ]


def _points(value: Any, base: Any) -> float | None:
    mine, theirs = _number(value), _number(base)
    return None if mine is None or theirs is None else (mine - theirs) * 100.0


def per_class_changes(d: DeltaRow) -> dict[str, float | None] | None:
    """Per class: the change of AP (detection) or IoU (segmentation) in points; None when the classes differ."""
    mine, theirs = vision_quality(d.run) or {}, vision_quality(d.baseline) or {}
    if _names(mine) != _names(theirs):
        return None
    key = PER_CLASS[str(mine.get("task"))][0]
    ours, base = (mine.get("per_class") or {}).get(key), (theirs.get("per_class") or {}).get(key)
    return {name: _points(_at(ours, i), _at(base, i)) for i, name in enumerate(_names(mine))}


def comparison_plot_jobs(comp: Comparison, img_dir: Path) -> list[Any]:
    """Per baseline: a figure of each candidate's per-class AP / IoU change (none without vision deltas)."""
    from edgeai_report.content import PlotJob

    pairs = _pairs(comp)
    if not pairs:
        return []
    short = PER_CLASS[str(comp.quality_task)][1]
    jobs = []
    for baseline in [b for b in comp.baselines if any(d.baseline is b for d in pairs)]:
        series = []
        for d in pairs:
            changes = per_class_changes(d) if d.baseline is baseline else None
            if changes is not None:
                series.append((d.run.name, d.run.stage, list(changes.values())))
        if not series:
            continue
        key = f"per-class-deltas-{baseline.slug}"
        jobs.append(
            PlotJob(
                key,
                "vision:per_class_deltas",
                {
                    "class_names": _names(vision_quality(baseline) or {}),
                    "series": series,
                    "metric": short,
                    "baseline": baseline.name,
                    "base": img_dir / key,
                    "key": key,
                    "title": f"Per-class {short} change against {baseline.name}",
                },
            )
        )
    return jobs


def per_class_deltas(
    class_names: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    metric: str,
    baseline: str,
    base: Path,
    key: str,
    title: str,
) -> PlotFile:
    """Each candidate's per-class change in points as horizontal bars, one colour per stage; n/a marked."""
    from edgeai_report.plots import STAGE_COLORS

    n, k = len(class_names), max(len(series), 1)
    names = [_short(name, 22) for name in class_names]
    height = min(max(2.4, 0.22 * n * k + 1.3), 18.0)
    fig = _figure((9.0, round(height, 2)), left=_label_inches(names, 8) + 0.2, top=0.45, bottom=0.6)
    ax = fig.add_subplot()
    pos = np.arange(n, dtype=float)
    width = 0.8 / k
    extent = 0.5
    for j, (label, stage, values) in enumerate(series):
        data = np.array([math.nan if v is None else v for v in values], dtype=float)
        offset = (j - (k - 1) / 2) * width
        colour = STAGE_COLORS.get(stage, PALETTE[j % len(PALETTE)]) if k <= 4 else PALETTE[j % len(PALETTE)]
        ax.barh(
            pos + offset,
            np.nan_to_num(data, nan=0.0),
            width,
            label=f"{_short(label, 30)} ({stage})",
            color=colour,
        )
        finite = data[np.isfinite(data)]
        extent = max(extent, float(np.abs(finite).max()) if finite.size else 0.0)
        for missing in np.flatnonzero(~np.isfinite(data)):
            ax.text(0, pos[missing] + offset, " n/a", fontsize=6, va="center", ha="left")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-extent * 1.3, extent * 1.3)
    ax.set_yticks(pos, names, fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(f"{metric} change (percentage points); left is worse")
    ax.legend(loc="lower right", fontsize=7, frameon=True)
    ax.set_title(title)
    caption = (
        f"Change of each class's {metric} against {baseline}, in points (100 x the difference); n/a where the "
        "class has no value in either run."
    )
    runs = f"{len(series)} run" + ("s" if len(series) != 1 else "")
    return _save(fig, base, key, caption, f"{title}: {runs}, {n} classes")


def comparison_blocks(comp: Comparison, plots: dict[str, PlotFile]) -> list[Any]:
    """Against each baseline: every metric's change, the per-class change figure and the per-class table."""
    pairs = _pairs(comp)
    if not pairs:
        return []
    task = str(comp.quality_task)
    metrics = _metrics(task)
    key, short, support_word = PER_CLASS[task]
    rows = []
    for d in pairs:
        mine, theirs = vision_quality(d.run) or {}, vision_quality(d.baseline) or {}
        rows.append(
            [
                d.run.name,
                d.run.stage,
                d.baseline.name,
                *[signed(_points(mine.get(k), theirs.get(k))) for k, _ in metrics],
            ]
        )
    blocks: list[Any] = [
        Heading(3, f"{task.capitalize()} metrics against the baseline", "vision-deltas"),
        Table(
            "vision-deltas",
            "Change of each metric against the baseline run, in points (100 x the difference; - where n/a)",
            ["run", "stage", "baseline", *[f"{label} change" for _, label in metrics]],
            rows,
            [False, False, False] + [True] * len(metrics),
        ),
        Heading(3, f"Per-class {short} against the baseline", "per-class-deltas"),
    ]
    for baseline in [b for b in comp.baselines if any(d.baseline is b for d in pairs)]:
        theirs = vision_quality(baseline) or {}
        names = _names(theirs)
        members = [d for d in pairs if d.baseline is baseline]
        same = [d for d in members if per_class_changes(d) is not None]
        for d in members:
            if not any(d is other for other in same):
                why = f"{d.run.name}: its classes differ from {baseline.name}'s; left out of the per-class table."
                blocks.append(Paragraph(text(why)))
        if not same:
            continue
        if f"per-class-deltas-{baseline.slug}" in plots:
            blocks.append(Image(plots[f"per-class-deltas-{baseline.slug}"]))
        base_values = (theirs.get("per_class") or {}).get(key)
        support = (theirs.get("per_class") or {}).get("support")
        header = ["class", support_word, f"{baseline.name} {short}"]
        for d in same:
            header += [f"{d.run.name} {short}", f"{d.run.name} change (points)"]
        table_rows = []
        for i, name in enumerate(names):
            row = [
                name,
                str(_at(support, i)) if _at(support, i) is not None else "-",
                _value(_at(base_values, i)),
            ]
            for d in same:
                ours = ((vision_quality(d.run) or {}).get("per_class") or {}).get(key)
                row += [_value(_at(ours, i)), signed(_points(_at(ours, i), _at(base_values, i)))]
            table_rows.append(row)
        blocks.append(
            Table(
                f"per-class-deltas-{baseline.slug}",
                f"Per-class {short} of each run against {baseline.name} (change in points; - where n/a)",
                header,
                table_rows,
                [False] + [True] * (len(header) - 1),
            )
        )
    return blocks


def primary_columns(runs: Sequence[Run]) -> list[str]:
    """Primary metrics other than accuracy among ``runs`` (a comparison's runs table gets a column each)."""
    return list(
        dict.fromkeys(r.primary[0] for r in runs if r.primary is not None and r.primary[0] != "accuracy")
    )


def primary_cell(run: Run, metric: str) -> str:
    primary = run.primary
    return fixed(primary[1]) if primary is not None and primary[0] == metric else "-"


# -- machine-readable ----------------------------------------------------------------------------------------


def quality_json(run: Run) -> dict[str, Any] | None:
    """``{"task", "metric", "value"}`` of a run's primary quality metric (``--json``), None without one."""
    primary = run.primary
    if primary is None:
        return None
    return {"task": run.task, "metric": primary[0], "value": primary[1]}


def delta_json(d: DeltaRow) -> dict[str, Any]:
    """A per-stage delta for ``--json``: the quality change in points, latency and size changes in percent."""
    out: dict[str, Any] = {
        "run": d.run.name,
        "stage": d.run.stage,
        "baseline": d.baseline.name,
        "metric": d.metric,
        "change_points": d.accuracy_points,
        "median_change_pct": d.median_change_pct,
        "size_change_pct": d.size_change_pct,
    }
    if vision_quality(d.run) is not None and vision_quality(d.baseline) is not None:
        out["per_class_change_points"] = per_class_changes(d)
    return out
