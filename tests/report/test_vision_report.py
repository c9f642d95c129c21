"""Detection and segmentation in the report: the metric tables, the example images drawn as SVG (boxes at the
recorded pixel coordinates, masks in the VOC palette), the mAP / per-class AP deltas of a comparison, the
JSON and CSV outputs, and the page in headless Chromium.

The results documents are the float and int8 demo fixtures with their quality replaced by detection or
segmentation quality in exactly the form edgeai_core.taskeval writes; every one is validated against the schema.
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

CLASSES = ["rectangle", "ellipse", "triangle"]
SEG_CLASSES = ["background", "square", "disc"]
TRUE_BOX = [10.0, 20.0, 40.0, 60.0]
PREDICTED_BOX = [12.5, 21.0, 41.0, 58.0]
RECALL = [i / 100 for i in range(101)]


def _picture(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)


def detection_quality(ap: list[float | None], map_value: float, map_50: float, examples: bool = True) -> Any:
    from edgeai_core.api import png_base64

    quality: dict[str, Any] = {
        "task": "detection",
        "applicable": True,
        "split": "test",
        "num_images": 20,
        "num_classes": 3,
        "class_names": CLASSES,
        "num_targets": 41,
        "num_detections": 57,
        "map": map_value,
        "map_50": map_50,
        "map_75": 0.4567,
        "map_small": -1.0,
        "map_medium": 0.3333,
        "map_large": 0.6012,
        "mar_100": 0.7001,
        "per_class": {"ap": ap, "ap_50": [0.9, 0.8, None], "support": [20, 21, 0]},
        "pr_curves": {
            "iou": 0.5,
            "recall": RECALL,
            "precision": {
                "rectangle": [1.0 - 0.5 * r for r in RECALL],
                "ellipse": [0.9 if r < 0.8 else 0.0 for r in RECALL],
                "triangle": None,
            },
        },
        "reference": "pycocotools 2.0.11",
        "primary": "map",
        "postprocess": {"kind": "centernet", "heatmap": 0, "size": 1, "offset": 2, "stride": 4},
    }
    if examples:
        quality["examples"] = [
            {
                "index": 0,
                "image_png": png_base64(_picture(64, 64, 0)),
                "truth": {"boxes": [TRUE_BOX], "labels": [0], "image_size": [64, 64]},
                "predicted": {
                    "boxes": [PREDICTED_BOX, [0.0, 0.0, 5.0, 5.0]],
                    "scores": [0.91, 0.1],
                    "labels": [0, 1],
                },
            },
            {
                "index": 1,
                "image_png": png_base64(_picture(48, 64, 1)),
                "truth": {"boxes": [[30.0, 5.0, 60.0, 40.0]], "labels": [1], "image_size": [48, 64]},
                "predicted": {"boxes": [], "scores": [], "labels": []},
            },
        ]
    return quality


def _masks() -> tuple[np.ndarray, np.ndarray]:
    truth = np.zeros((16, 16), dtype=np.uint8)
    truth[2:8, 3:9] = 1  # a square
    truth[10:14, 10:14] = 2  # a disc
    truth[0, :] = 255  # ignored
    predicted = truth.copy()
    predicted[0, :] = 0
    predicted[10:14, 10:12] = 1  # half the disc taken for a square
    return truth, predicted


def segmentation_quality(iou: list[float | None], miou: float) -> Any:
    from edgeai_core.api import png_base64

    truth, predicted = _masks()
    return {
        "task": "segmentation",
        "applicable": True,
        "split": "test",
        "num_images": 8,
        "num_classes": 3,
        "class_names": SEG_CLASSES,
        "miou": miou,
        "pixel_accuracy": 0.9612,
        "mean_accuracy": 0.8123,
        "per_class": {"iou": iou, "accuracy": [0.99, 0.95, 0.5], "support": [1500, 300, 120]},
        "confusion_matrix": [[1480, 10, 10], [5, 290, 5], [0, 60, 60]],
        "ignore_index": 255,
        "primary": "miou",
        "postprocess": {"kind": "segmentation", "output": 0, "layout": "NCHW"},
        "examples": [
            {
                "index": 0,
                "image_png": png_base64(_picture(16, 16, 2)),
                "truth_png": png_base64(truth),
                "predicted_png": png_base64(predicted),
            }
        ],
    }


def _document(rt: SimpleNamespace, fixture: str, name: str, quality: dict[str, Any], model: str) -> Any:
    """A fixture with ``quality`` swapped in; dataset and model renamed (both runs of one family)."""
    import jsonschema

    from edgeai_core.api import load_schema

    doc = copy.deepcopy(rt.load_fixture(fixture))
    base = rt.load_fixture("onnxruntime-float")
    doc["name"] = name
    doc["plan"]["dataset"] = {**copy.deepcopy(base["plan"]["dataset"]), "name": f"shapes-{quality['task']}"}
    doc["plan"]["model"]["name"] = model
    doc["quality"] = quality
    jsonschema.validate(doc, load_schema())
    return doc


def _write(folder: Path, name: str, doc: Any) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, rt: SimpleNamespace) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("vision-runs")
    det_float = _document(
        rt, "onnxruntime-float", "det-float", detection_quality([0.6, 0.45, None], 0.5123, 0.8101), "detector"
    )
    det_int8 = _document(
        rt, "onnxruntime-int8", "det-int8", detection_quality([0.58, 0.4, None], 0.4871, 0.7957), "detector"
    )
    seg_float = _document(
        rt, "onnxruntime-float", "seg-float", segmentation_quality([0.98, 0.8, 0.45], 0.7433), "segmenter"
    )
    seg_int8 = _document(
        rt, "onnxruntime-int8", "seg-int8", segmentation_quality([0.97, 0.75, 0.4], 0.7067), "segmenter"
    )
    return SimpleNamespace(
        det_float=_write(folder, "det-float", det_float),
        det_int8=_write(folder, "det-int8", det_int8),
        seg_float=_write(folder, "seg-float", seg_float),
        seg_int8=_write(folder, "seg-int8", seg_int8),
    )


@pytest.fixture(scope="module")
def detection_report(runs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from edgeai_report import render_report

    return render_report([runs.det_float], tmp_path_factory.mktemp("det-report"), jobs=1)


@pytest.fixture(scope="module")
def segmentation_report(runs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from edgeai_report import render_report

    return render_report([runs.seg_float], tmp_path_factory.mktemp("seg-report"), jobs=1)


@pytest.fixture(scope="module")
def detection_comparison(runs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from edgeai_report import render_report

    return render_report([runs.det_float, runs.det_int8], tmp_path_factory.mktemp("det-compare"), jobs=1)


# -- single run: detection -----------------------------------------------------------------------------------


def test_detection_report_tabulates_the_coco_metrics(detection_report: Any, rt: SimpleNamespace) -> None:
    page = detection_report.files["html"].read_text(encoding="utf-8")
    tables = rt.parse_html(page).tables
    metrics = dict((row[0], row[1]) for row in tables["det-float-quality-metrics"][1])
    assert metrics["mAP@[.5:.95]"] == "0.5123" and metrics["mAP@.5"] == "0.8101"
    assert metrics["mAP@.75"] == "0.4567" and metrics["mAP small"] == "n/a"
    assert metrics["mAP medium"] == "0.3333" and metrics["mAP large"] == "0.6012"
    assert metrics["AR@100"] == "0.7001" and metrics["true objects"] == "41" and metrics["detections"] == "57"
    per_class = tables["det-float-per-class"]
    assert per_class[0] == ["class", "objects", "AP@[.5:.95]", "AP@.5"]
    assert per_class[1] == [
        ["rectangle", "20", "0.6000", "0.9000"],
        ["ellipse", "21", "0.4500", "0.8000"],
        ["triangle", "0", "-", "-"],
    ]
    summary = dict((row[0], row[1]) for row in tables["det-float-summary"][1])
    assert summary["mAP@[.5:.95]"] == "0.5123" and summary["accuracy"] == "-"
    assert '"kind": "centernet"' in page.replace("&quot;", '"')
    # the markdown says the same
    md = rt.parse_markdown_tables(detection_report.files["md"].read_text(encoding="utf-8"))
    assert md["det-float-quality-metrics"] == tables["det-float-quality-metrics"]


def test_detection_report_draws_per_class_ap_and_pr_curves(detection_report: Any) -> None:
    plots = {p.key: p for p in detection_report.plots}
    assert {"det-float-per-class", "det-float-pr-curves"} <= set(plots)
    assert plots["det-float-pr-curves"].alt.endswith("precision-recall curves of 2 classes")
    assert "IoU 0.5" in plots["det-float-pr-curves"].caption
    for plot in plots.values():
        assert plot.png.stat().st_size > 1000 and plot.svg.is_file()


def _example_svgs(page: str) -> list[str]:
    return re.findall(r'<svg class="example".*?</svg>', page, re.S)


def test_detection_examples_are_inline_svg_with_boxes_at_the_recorded_pixels(detection_report: Any) -> None:
    page = detection_report.files["html"].read_text(encoding="utf-8")
    first, second = _example_svgs(page)
    assert 'viewBox="0 0 64 64"' in first and 'width="256" height="256"' in first  # 4x, image pixels inside
    assert 'viewBox="0 0 64 48"' in second and 'width="256" height="192"' in second
    image = re.search(r'<image class="example" href="data:image/png;base64,([^"]+)"', first)
    assert image is not None
    from edgeai_report.vision import decode_png

    assert (decode_png(image.group(1)) == _picture(64, 64, 0)).all()
    truth = re.findall(r'<rect class="truth" ([^>]*)>', first)
    assert len(truth) == 1
    assert 'x="10" y="20" width="30" height="40"' in truth[0] and 'stroke-dasharray="5 3"' in truth[0]
    predicted = re.findall(r'<rect class="predicted" ([^>]*)>', first)
    assert len(predicted) == 1  # the 0.1-score box stays out
    assert (
        'x="12.5" y="21" width="28.5" height="37"' in predicted[0] and "stroke-dasharray" not in predicted[0]
    )
    assert ">rectangle 0.91</text>" in first and "ellipse 0.10" not in first
    assert ">image 0: 1 true, 1 predicted</text>" in page and ">image 1: 1 true, 0 predicted</text>" in page
    caption = re.search(
        r'<figure id="fig-det-float-examples" class="drawing">.*?<figcaption>(.*?)</figcaption>', page, re.S
    )
    assert caption is not None and "at least 0.3" in caption.group(1)


def test_detection_examples_are_files_for_markdown_and_rst(detection_report: Any) -> None:
    (drawing,) = detection_report.drawings
    assert drawing.name == "det-float-examples.svg" and drawing.parent.name == "img"
    svg = drawing.read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and 'x="10" y="20" width="30" height="40"' in svg
    from xml.etree import ElementTree

    ElementTree.fromstring(svg.split("\n", 1)[1])  # well-formed XML on its own
    md = detection_report.files["md"].read_text(encoding="utf-8")
    assert "](img/det-float-examples.svg)" in md
    rst = detection_report.files["rst"].read_text(encoding="utf-8")
    assert ".. figure:: img/det-float-examples.svg" in rst
    docutils_core = pytest.importorskip("docutils.core")
    warnings = io.StringIO()
    docutils_core.publish_doctree(
        rst, settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": warnings}
    )
    assert warnings.getvalue() == "", warnings.getvalue()[:2000]


def test_a_run_without_examples_says_so(rt: SimpleNamespace, tmp_path: Path) -> None:
    from edgeai_report import render_report

    doc = _document(
        rt, "onnxruntime-float", "bare", detection_quality([0.6, 0.45, None], 0.5, 0.8, examples=False), "m"
    )
    done = render_report([_write(tmp_path, "bare", doc)], tmp_path / "out", formats="md", jobs=1)
    md = done.files["md"].read_text(encoding="utf-8")
    assert "No example images recorded" in md and not done.drawings


def test_broken_examples_are_reported_not_fatal(rt: SimpleNamespace, tmp_path: Path) -> None:
    from edgeai_report import render_report

    quality = detection_quality([0.6, 0.45, None], 0.5, 0.8)
    quality["examples"][0]["image_png"] = base64.b64encode(b"not a png at all").decode()
    del quality["examples"][0]["truth"]["image_size"]
    doc = _document(rt, "onnxruntime-float", "broken", quality, "m")
    done = render_report([_write(tmp_path, "broken", doc)], tmp_path / "out", formats="md", jobs=1)
    md = done.files["md"].read_text(encoding="utf-8")
    assert "The example images could not be drawn: not a PNG image." in md and not done.drawings


# -- single run: segmentation --------------------------------------------------------------------------------


def test_segmentation_report_tables(segmentation_report: Any, rt: SimpleNamespace) -> None:
    tables = rt.parse_html(segmentation_report.files["html"].read_text(encoding="utf-8")).tables
    metrics = dict((row[0], row[1]) for row in tables["seg-float-quality-metrics"][1])
    assert metrics["mIoU"] == "0.7433" and metrics["pixel accuracy"] == "0.9612"
    assert metrics["mean accuracy"] == "0.8123" and metrics["ignored label"] == "255"
    assert tables["seg-float-per-class"][1][2] == ["disc", "120", "0.4500", "0.5000"]
    keys = {p.key for p in segmentation_report.plots}
    assert {"seg-float-confusion", "seg-float-per-class"} <= keys


def test_segmentation_masks_are_coloured_with_the_voc_palette(segmentation_report: Any) -> None:
    from PIL import Image

    page = segmentation_report.files["html"].read_text(encoding="utf-8")
    shown = dict(re.findall(r'<image class="(truth|predicted)" href="data:image/png;base64,([^"]+)"', page))
    truth = np.asarray(Image.open(io.BytesIO(base64.b64decode(shown["truth"]))).convert("RGB"))
    predicted = np.asarray(Image.open(io.BytesIO(base64.b64decode(shown["predicted"]))).convert("RGB"))
    assert truth.shape == (16, 16, 3)
    assert tuple(truth[4, 5]) == (128, 0, 0)  # class 1 (square): VOC dark red
    assert tuple(truth[11, 11]) == (0, 128, 0)  # class 2 (disc): VOC green
    assert tuple(truth[5, 14]) == (0, 0, 0)  # background
    assert tuple(truth[0, 3]) == (224, 224, 192)  # ignored
    assert tuple(predicted[11, 11]) == (128, 0, 0) and tuple(predicted[11, 13]) == (0, 128, 0)
    swatches = dict(re.findall(r'<rect class="swatch" data-class="(\d+)"[^>]*fill="(#[0-9a-f]{6})"', page))
    assert swatches == {"0": "#000000", "1": "#800000", "2": "#008000", "255": "#e0e0c0"}
    # 16 x 16 = 256 pixels, 16 ignored, 8 of the disc wrong: 232 of 240 right
    assert f"image 0: {232 / 240:.1%} of its pixels right" in page


def test_decode_png_reads_every_filter_pillow_writes(tmp_path: Path) -> None:
    from PIL import Image

    from edgeai_report.vision import decode_png

    rng = np.random.default_rng(3)
    smooth = np.cumsum(rng.integers(0, 8, size=(40, 30, 3)), axis=1).astype(np.uint8)  # filters get used
    for array in (smooth, smooth[:, :, 0], np.dstack([smooth, smooth[:, :, :1]])):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG", optimize=True)
        assert (decode_png(buffer.getvalue()) == array).all()
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(b"GIF89a")


# -- comparison ----------------------------------------------------------------------------------------------


def test_comparison_shows_map_deltas_per_stage(detection_comparison: Any, rt: SimpleNamespace) -> None:
    page = detection_comparison.files["html"].read_text(encoding="utf-8")
    tables = rt.parse_html(page).tables
    deltas = tables["deltas"]
    assert "mAP@[.5:.95] change (points)" in deltas[0]
    row = rt.row_of(deltas, "det-int8")
    assert row[1] == "quantized" and row[2] == "det-float"
    assert row[rt.column(deltas, "mAP@[.5:.95] change (points)")] == "-2.52"
    quality = tables["quality"]
    assert rt.row_of(quality, "det-float")[rt.column(quality, "mAP@[.5:.95]")] == "0.5123"
    assert rt.row_of(quality, "det-int8")[rt.column(quality, "mAP@[.5:.95]")] == "0.4871"
    assert rt.row_of(quality, "det-int8")[rt.column(quality, "mAP small")] == "n/a"
    runs = tables["runs"]
    assert rt.row_of(runs, "det-int8")[rt.column(runs, "mAP@[.5:.95]")] == "0.4871"
    metric_deltas = tables["vision-deltas"]
    row = rt.row_of(metric_deltas, "det-int8")
    assert row[rt.column(metric_deltas, "mAP@.5 change")] == "-1.44"
    assert row[rt.column(metric_deltas, "mAP small change")] == "-"
    per_class = tables["per-class-deltas-det-float"]
    assert per_class[0] == ["class", "objects", "det-float AP", "det-int8 AP", "det-int8 change (points)"]
    assert per_class[1] == [
        ["rectangle", "20", "0.6000", "0.5800", "-2.00"],
        ["ellipse", "21", "0.4500", "0.4000", "-5.00"],
        ["triangle", "0", "-", "-", "-"],
    ]
    plots = {p.key: p for p in detection_comparison.plots}
    assert "compare-deltas" in plots and "mAP@[.5:.95] change" in plots["compare-deltas"].svg.read_text()
    figure = plots["per-class-deltas-det-float"]
    assert figure.alt == "Per-class AP change against det-float: 1 run, 3 classes"
    assert f'id="fig-{figure.key}"' in page
    # the trade-off chart puts mAP against latency and size
    assert not [part for part, _, _ in detection_comparison.left_out if part == "trade-off chart"]
    assert "mAP@[.5:.95]; up is better" in plots["compare-tradeoff"].svg.read_text()
    assert ">mAP@[.5:.95], latency and size</h3>" in page


def test_comparison_json_carries_the_deltas(detection_comparison: Any) -> None:
    data = json.loads(json.dumps(detection_comparison.to_json()))
    assert data["quality"]["det-float"] == {"task": "detection", "metric": "map", "value": 0.5123}
    (delta,) = data["deltas"]
    assert delta["run"] == "det-int8" and delta["baseline"] == "det-float" and delta["metric"] == "map"
    assert delta["change_points"] == pytest.approx(-2.52)
    changes = delta["per_class_change_points"]
    assert changes["rectangle"] == pytest.approx(-2.0) and changes["triangle"] is None


def test_segmentation_comparison_shows_miou_and_per_class_iou_deltas(
    runs: SimpleNamespace, tmp_path: Path, rt: SimpleNamespace
) -> None:
    from edgeai_report import render_report

    done = render_report([runs.seg_float, runs.seg_int8], tmp_path, formats="md", jobs=1)
    tables = rt.parse_markdown_tables(done.files["md"].read_text(encoding="utf-8"))
    assert (
        rt.row_of(tables["deltas"], "seg-int8")[rt.column(tables["deltas"], "mIoU change (points)")]
        == "-3.66"
    )
    per_class = tables["per-class-deltas-seg-float"]
    assert per_class[0][:3] == ["class", "pixels", "seg-float IoU"]
    assert rt.row_of(per_class, "disc") == ["disc", "120", "0.4500", "0.4000", "-5.00"]


def test_classification_deltas_keep_their_header(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    done = render_report(
        [rt.fixture_path("onnxruntime-float"), rt.fixture_path("onnxruntime-int8")],
        tmp_path,
        formats="md",
        jobs=1,
    )
    tables = rt.parse_markdown_tables(done.files["md"].read_text(encoding="utf-8"))
    assert tables["deltas"][0][3] == "accuracy change (points)"
    assert "mAP@[.5:.95]" not in tables["runs"][0] and "vision-deltas" not in tables
    (delta,) = done.to_json()["deltas"]
    assert delta["metric"] == "accuracy" and "per_class_change_points" not in delta


def test_mixed_tasks_name_the_metric_in_each_delta(
    runs: SimpleNamespace, tmp_path: Path, rt: SimpleNamespace
) -> None:
    from edgeai_report import render_report

    files = [
        runs.det_float,
        runs.det_int8,
        rt.fixture_path("onnxruntime-float"),
        rt.fixture_path("onnxruntime-int8"),
    ]
    done = render_report(files, tmp_path, formats="md", jobs=1)
    deltas = rt.parse_markdown_tables(done.files["md"].read_text(encoding="utf-8"))["deltas"]
    column = rt.column(deltas, "quality change (points)")
    assert rt.row_of(deltas, "det-int8")[column] == "-2.52 (mAP@[.5:.95])"
    assert rt.row_of(deltas, "onnxruntime-int8")[column].endswith(" (accuracy)")


def test_report_csv_names_the_primary_metric(
    runs: SimpleNamespace, tmp_path: Path, host: Any, rt: SimpleNamespace
) -> None:
    from click.testing import CliRunner

    from edgeai_core.cli import cli

    result = CliRunner().invoke(
        cli,
        [
            "report",
            str(runs.det_float),
            str(runs.seg_int8),
            str(rt.fixture_path("onnxruntime-float")),
            "-o",
            str(tmp_path),
            "--format",
            "md",
            "--csv",
            "-",
        ],
        obj={"host": host},
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    accuracy = str(rt.load_fixture("onnxruntime-float")["quality"]["accuracy"])
    assert [(r["quality_metric"], r["quality"], r["accuracy"]) for r in rows] == [
        ("map", "0.5123", ""),
        ("miou", "0.7067", ""),
        ("accuracy", accuracy, accuracy),
    ]


def test_per_class_lists_must_match_the_class_count(rt: SimpleNamespace, tmp_path: Path) -> None:
    from edgeai_report.load import ReportInputError, load_runs

    doc = _document(rt, "onnxruntime-float", "bad", detection_quality([0.6, 0.45], 0.5, 0.8), "m")
    with pytest.raises(
        ReportInputError, match=r"quality\.per_class\.ap: must list 3 values \(one per class\)"
    ):
        load_runs([_write(tmp_path, "bad", doc)])


# -- in a browser ----------------------------------------------------------------------------------------------

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
# Injected into a copy of the page: every error event (script or resource), each SVG <image> decoded by the
# browser, the drawn boxes' on-screen sizes; the examples figure moves to the top for the screenshot.
PROBE = """<script>
const errors = [];
window.addEventListener("error", e => errors.push(String(e.message || (e.target && e.target.tagName))), true);
window.addEventListener("DOMContentLoaded", () => {
  const figure = document.querySelector("figure.drawing");
  if (figure) document.body.prepend(figure);
});
window.addEventListener("load", async () => {
  const hrefs = Array.from(document.querySelectorAll("svg image")).map(i => i.getAttribute("href"));
  const decoded = [];
  for (const href of hrefs) {
    const img = new Image();
    img.src = href;
    try { await img.decode(); decoded.push([img.naturalWidth, img.naturalHeight]); }
    catch (e) { decoded.push([0, 0]); }
  }
  const boxes = Array.from(document.querySelectorAll("rect.truth, rect.predicted")).map(r => {
    const b = r.getBoundingClientRect(); return [r.getAttribute("class"), Math.round(b.width), Math.round(b.height)];
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({errors, decoded, boxes, imgs: document.images.length});
  document.body.appendChild(out);
});
</script>"""
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-dev-shm-usage", "--hide-scrollbars", "--enable-logging=stderr",
]  # fmt: skip


@pytest.mark.subprocess
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_detection_report_in_headless_chromium(detection_report: Any, tmp_path: Path) -> None:
    from PIL import Image

    page = tmp_path / "probe.html"
    page.write_text(
        detection_report.files["html"].read_text(encoding="utf-8").replace("<main>", PROBE + "<main>", 1),
        encoding="utf-8",
    )
    assert CHROMIUM is not None

    def chromium(*args: str) -> subprocess.CompletedProcess[str]:
        profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    proc = chromium("--virtual-time-budget=15000", "--dump-dom")
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the page did not finish loading: {proc.stderr[-2000:]}"
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert found["errors"] == []
    assert "Uncaught" not in proc.stderr and "CONSOLE" not in proc.stderr, proc.stderr[-2000:]
    assert found["decoded"] == [[64, 64], [64, 48]]  # both example PNGs decode in the browser
    assert found["imgs"] == len(detection_report.plots)
    # boxes drawn 4x: the true box 30 x 40 image pixels is 120 x 160 on the page (+2 px of stroke)
    assert ["truth", 122, 162] in found["boxes"] or ["truth", 120, 160] in found["boxes"], found["boxes"]
    shot = tmp_path / "shot.png"
    chromium("--window-size=1000,700", f"--screenshot={shot}", "--virtual-time-budget=15000")
    assert shot.is_file()
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    red = sum(count for count, (r, g, b) in colours if r > 200 and g < 60 and b < 80)
    green = sum(count for count, (r, g, b) in colours if r < 40 and 150 < g < 200 and 60 < b < 110)
    assert red > 300, "the predicted boxes and their tags are on screen"
    assert green > 100, "the dashed true boxes are on screen"
