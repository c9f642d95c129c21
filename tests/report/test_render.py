"""Single-run and comparison reports rendered from real results files: files, images and the numbers shown."""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from edgeai_report import plots

SINGLE_PLOTS = {
    "blobs37-mlp-int8-latency": plots.px(plots.LATENCY_SIZE),
    "blobs37-mlp-int8-resources": plots.px(plots.resources_size(2)),
    "blobs37-mlp-int8-confusion": plots.px(plots.confusion_size(37)),
    "blobs37-mlp-int8-per-class": plots.px(plots.per_class_size(37)),
}
COMPARISON_PLOTS = {
    "compare-latency": plots.px(plots.compare_latency_size(9)),
    "compare-tradeoff": plots.px(plots.TRADEOFF_SIZE),
    "compare-resources": plots.px(plots.COMPARE_RESOURCES_SIZE),
    "compare-deltas": plots.px(plots.deltas_size(6)),
}


def _check_png(path: Path, size: tuple[int, int]) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size == size, f"{path.name}: {image.size} != {size}"
        return image.convert("RGB")


def _not_blank(image: Image.Image) -> None:
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, "the image is (nearly) one colour"


def test_single_report_writes_every_file(single_report: Any) -> None:
    result = single_report
    assert result.kind == "single" and result.runs == ["blobs37-mlp-int8"]
    for fmt, name in (("html", "report.html"), ("md", "report.md"), ("rst", "report.rst")):
        assert result.files[fmt] == result.output / name and result.files[fmt].stat().st_size > 1000
    assert {p.key: (p.width, p.height) for p in result.plots} == SINGLE_PLOTS
    for plot in result.plots:
        assert plot.png.parent == result.output / "img"
        _not_blank(_check_png(plot.png, (plot.width, plot.height)))
        svg = ET.parse(plot.svg).getroot()
        assert svg.tag.endswith("svg")
        assert svg.get("width") == f"{plot.width * 72 / plots.DPI:g}pt"


def test_37_class_confusion_matrix_is_drawn_large_enough(single_report: Any) -> None:
    plot = next(p for p in single_report.plots if p.key.endswith("-confusion"))
    assert (plot.width, plot.height) == plots.px(plots.confusion_size(37)) and plot.height >= 1200
    image = _check_png(plot.png, (plot.width, plot.height))
    # a mostly-correct classifier: ~37 dark-blue diagonal cells of about 28 x 28 pixels each
    dark = sum(
        count for count, (r, g, b) in image.getcolors(maxcolors=1 << 20) if r < 60 and g < 110 and b > 100
    )
    assert dark > 15 * 28 * 28, dark


def test_single_report_tables_equal_the_json(single_report: Any, rt: SimpleNamespace) -> None:
    doc = rt.load_fixture("blobs37-mlp-int8")
    tables = rt.parse_markdown_tables(single_report.files["md"].read_text(encoding="utf-8"))
    stats = doc["latency"]["stats"]
    lat = tables["blobs37-mlp-int8-latency-stats"]
    host = rt.row_of(lat, "host")
    assert int(host[rt.column(lat, "count")]) == stats["count"]
    for key in ("mean", "std", "min", "median", "p90", "p95", "p99", "max"):
        header = next(h for h in lat[0] if h.startswith(f"{key} ("))
        rt.assert_shown(host[lat[0].index(header)], stats[key], rt.unit_scale(header))
    ci_header = next(h for h in lat[0] if h.startswith("median 95% CI"))
    low, high = host[lat[0].index(ci_header)].split(" to ")
    rt.assert_shown(low, stats["median_ci"]["low"], rt.unit_scale(ci_header))
    rt.assert_shown(high, stats["median_ci"]["high"], rt.unit_scale(ci_header))

    quality = doc["quality"]
    metrics = dict(tables["blobs37-mlp-int8-quality-metrics"][1])
    for key, label in (
        ("accuracy", "accuracy"),
        ("top5_accuracy", "top-5 accuracy"),
        ("mean_precision", "mean precision"),
        ("mean_sensitivity", "mean sensitivity"),
        ("g_mean", "G-mean"),
    ):
        rt.assert_shown(metrics[label], quality[key])
    assert metrics["classes"] == "37" and int(metrics["evaluated samples"]) == quality["num_samples"]

    per_class = tables["blobs37-mlp-int8-per-class"]
    assert [r[0] for r in per_class[1]] == quality["class_names"]
    for i, row in enumerate(per_class[1]):
        assert int(row[1]) == quality["per_class"]["support"][i]
        for col, key in ((2, "precision"), (3, "sensitivity")):
            value = quality["per_class"][key][i]
            if value is None:
                assert row[col] == "-"
            else:
                rt.assert_shown(row[col], value)

    steps = tables["blobs37-mlp-int8-steps"]
    for row, step in zip(steps[1], doc["steps"], strict=True):
        assert row[2].startswith(step["name"])
        expected = step["artifact"]["size_bytes"] if step["artifact"] else "-"
        assert row[rt.column(steps, "size (bytes)")] == str(expected)
        rt.assert_shown(row[rt.column(steps, "duration (s)")], step["duration_s"])

    resources = tables["blobs37-mlp-int8-resource-stats"]
    host_res = rt.row_of(resources, "host")
    summary = doc["resources"]["host"]["summary"]
    rt.assert_shown(host_res[rt.column(resources, "process CPU mean (%)")], summary["cpu_percent"]["mean"])
    rt.assert_shown(
        host_res[rt.column(resources, "process RSS max (MiB)")], summary["rss_bytes"]["max"], 1024.0**2
    )
    assert int(host_res[rt.column(resources, "samples")]) == len(doc["resources"]["host"]["t_s"])

    provenance = dict(tables["blobs37-mlp-int8-provenance"][1])
    assert provenance["command"] == doc["provenance"]["command"]
    assert provenance["edgeai"] == doc["provenance"]["edgeai_version"]
    assert provenance["frameworks"] == "numpy " + doc["provenance"]["frameworks"]["numpy"]


def test_html_is_self_contained_and_matches_markdown(single_report: Any, rt: SimpleNamespace) -> None:
    text = single_report.files["html"].read_text(encoding="utf-8")
    page = rt.parse_html(text)
    markdown = rt.parse_markdown_tables(single_report.files["md"].read_text(encoding="utf-8"))
    assert page.tables == markdown, "HTML and Markdown tables differ"
    assert "script" not in page.tags and "link" not in page.tags, "no scripts or external stylesheets"
    assert not [link for link in page.links if "://" in link], "no links to servers"
    assert len(page.images) == len(single_report.plots)
    for attributes, plot in zip(page.images, single_report.plots, strict=True):
        src = attributes["src"]
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == plot.png.read_bytes()
        assert (int(attributes["width"]), int(attributes["height"])) == (plot.width, plot.height)
        assert attributes["alt"]


def test_rst_is_valid_restructuredtext(single_report: Any, comparison_report: Any) -> None:
    docutils_core = pytest.importorskip("docutils.core")
    for result in (single_report, comparison_report):
        source = result.files["rst"].read_text(encoding="utf-8")
        warnings = io.StringIO()
        docutils_core.publish_doctree(
            source,
            source_path=str(result.files["rst"]),
            settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": warnings},
        )
        assert warnings.getvalue() == "", warnings.getvalue()[:2000]
        for plot in result.plots:
            assert f".. figure:: img/{plot.png.name}" in source


def test_comparison_report_files_and_plots(comparison_report: Any, rt: SimpleNamespace) -> None:
    result = comparison_report
    assert result.kind == "comparison" and result.runs == list(rt.COMPARED)
    sizes = {p.key: (p.width, p.height) for p in result.plots}
    for key, size in COMPARISON_PLOTS.items():
        assert sizes[key] == size, key
    assert "compare-per-class" in sizes
    for name in rt.COMPARED:  # every run in detail: its latency; classification runs: a confusion matrix
        assert f"{name}-latency" in sizes
        has_quality = (rt.load_fixture(name)["quality"] or {}).get("applicable")
        assert (f"{name}-confusion" in sizes) == bool(has_quality), name
    for plot in result.plots:
        _check_png(plot.png, (plot.width, plot.height))
        assert plot.svg.stat().st_size > 1000


def test_comparison_tables_equal_the_json(comparison_report: Any, rt: SimpleNamespace) -> None:
    tables = rt.parse_markdown_tables(comparison_report.files["md"].read_text(encoding="utf-8"))
    html_tables = rt.parse_html(comparison_report.files["html"].read_text(encoding="utf-8")).tables
    assert html_tables == tables
    runs = tables["runs"]
    latency = tables["latency-stats"]
    median_header = next(h for h in runs[0] if h.startswith("median ("))
    size_header = next(h for h in runs[0] if h.startswith("model size ("))
    for name in rt.COMPARED:
        doc = rt.load_fixture(name)
        row = rt.row_of(runs, name)
        assert row[rt.column(runs, "status")] == doc["status"]
        stats = doc["latency"]["stats"]
        rt.assert_shown(row[runs[0].index(median_header)], stats["median"], rt.unit_scale(median_header))
        loads = [s for s in doc["steps"] if s["kind"] == "runtime-load" and s["artifact"]]
        size = loads[-1]["artifact"]["size_bytes"]
        rt.assert_shown(row[runs[0].index(size_header)], size, 1024.0 if "KiB" in size_header else 1.0)
        quality = doc["quality"]
        accuracy = row[rt.column(runs, "accuracy")]
        if quality:
            rt.assert_shown(accuracy, quality["accuracy"])
        else:
            assert accuracy == "-"
        side = "host round trip" if doc["latency"].get("target") else "host"
        lat_row = rt.row_of(latency, name, side)
        assert int(lat_row[rt.column(latency, "count")]) == stats["count"]
        p99 = next(h for h in latency[0] if h.startswith("p99 ("))
        rt.assert_shown(lat_row[latency[0].index(p99)], stats["p99"], rt.unit_scale(p99))
    target = rt.row_of(latency, "blobs-mlp-int8-tcp", "target inference")
    target_stats = rt.load_fixture("blobs-mlp-int8-tcp")["latency"]["target"]["stats"]
    median = next(h for h in latency[0] if h.startswith("median ("))
    rt.assert_shown(target[latency[0].index(median)], target_stats["median"], rt.unit_scale(median))


def test_comparison_quality_and_deltas(comparison_report: Any, rt: SimpleNamespace) -> None:
    tables = rt.parse_markdown_tables(comparison_report.files["md"].read_text(encoding="utf-8"))
    quality = tables["quality"]
    compared = [r[0] for r in quality[1]]
    assert "blobs-mlp-int8-tcp-lost" not in compared and "blobs-mlp-int8-killed" not in compared
    for name in compared:
        rt.assert_shown(
            rt.row_of(quality, name)[rt.column(quality, "G-mean")], rt.load_fixture(name)["quality"]["g_mean"]
        )
    deltas = tables["deltas"]
    eager, int8 = rt.load_fixture("torch-eager"), rt.load_fixture("onnxruntime-int8")
    row = rt.row_of(deltas, "onnxruntime-int8")
    assert (
        row[rt.column(deltas, "stage")] == "quantized" and row[rt.column(deltas, "baseline")] == "torch-eager"
    )
    expected = (int8["latency"]["stats"]["median"] / eager["latency"]["stats"]["median"] - 1) * 100
    rt.assert_shown(row[rt.column(deltas, "median latency change (%)")], expected)
    expected_points = (int8["quality"]["accuracy"] - eager["quality"]["accuracy"]) * 100
    rt.assert_shown(row[rt.column(deltas, "accuracy change (points)")], expected_points)
    left_out = {(part, run) for part, run, _ in comparison_report.left_out}
    assert ("quality", "blobs-mlp-int8-tcp-lost") in left_out and (
        "quality",
        "blobs-mlp-int8-killed",
    ) in left_out
    assert ("per-class comparison", "blobs37-mlp-int8") in left_out
    text = comparison_report.files["md"].read_text(encoding="utf-8")
    assert "blobs-mlp-int8-tcp-lost left out: not evaluated: the run failed in stage benchmark" in text


def test_failed_and_interrupted_runs_are_marked(comparison_report: Any, rt: SimpleNamespace) -> None:
    page = comparison_report.files["html"].read_text(encoding="utf-8")
    failed = rt.load_fixture("blobs-mlp-int8-tcp-lost")
    assert (
        '<div class="callout error" role="note"><strong class="title">Run failed in stage benchmark.' in page
    )
    assert failed["error"]["message"].replace("'", "&#x27;") in page
    assert "Run interrupted in stage benchmark (inferred from the recorded data)." in page
    assert "2 of 9 runs did not complete." in page


def test_progress_file_of_a_killed_run_is_rendered(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_core.measurement import recover_partial
    from edgeai_report import render_report

    partial = rt.FIXTURES / "blobs-mlp-int8-killed.partial.jsonl"
    result = render_report([partial], tmp_path, formats="md", jobs=1)
    text = result.files["md"].read_text(encoding="utf-8")
    assert "Rebuilt from a progress file." in text and "interrupted" in text
    stats = recover_partial(partial)["latency"]["stats"]
    lat = rt.parse_markdown_tables(text)["blobs-mlp-int8-killed-latency-stats"]
    assert int(rt.row_of(lat, "host")[1]) == stats["count"] == 10_000


def test_img_dir_and_root_dir_for_docs_trees(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    docs = tmp_path / "docs"
    result = render_report(
        [rt.fixture_path("blobs-mlp-int8")],
        docs / "reports" / "blobs",
        formats="rst,md",
        img_dir=docs / "_static" / "blobs",
        root_dir=docs,
        jobs=1,
    )
    rst = result.files["rst"].read_text(encoding="utf-8")
    md = result.files["md"].read_text(encoding="utf-8")
    for plot in result.plots:
        assert plot.png.parent == docs / "_static" / "blobs" and plot.png.is_file()
        assert f".. figure:: /_static/blobs/{plot.png.name}" in rst
        assert f"](../../_static/blobs/{plot.png.name})" in md
    assert "html" not in result.files


def test_a_worker_process_draws_the_same_figures(
    tmp_path: Path, rt: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeai_report import render, render_report

    started: list[int] = []
    start = render._start_worker

    def counting(share: list[Any], path: Path) -> Any:
        started.append(len(share))
        return start(share, path)

    monkeypatch.setattr(render, "_start_worker", counting)
    monkeypatch.setattr(render, "WORKER_START_COST", 1.0)  # a share for the worker even with few figures
    source = [rt.fixture_path("torch-eager"), rt.fixture_path("blobs-mlp-int8")]
    one = render_report(source, tmp_path / "one", formats="md", jobs=1)
    assert started == []
    two = render_report(source, tmp_path / "two", formats="md", jobs=2)
    assert len(started) == 1 and 0 < started[0] < len(two.plots), "one worker drew part of the figures"
    assert [(p.key, p.width, p.height) for p in one.plots] == [(p.key, p.width, p.height) for p in two.plots]
    for a, b in zip(one.plots, two.plots, strict=True):
        assert b.png.parent == tmp_path / "two" / "img"
        with Image.open(a.png) as first, Image.open(b.png) as second:
            assert first.size == second.size


def test_json_manifest_lists_what_was_written(single_report: Any) -> None:
    manifest = json.loads(json.dumps(single_report.to_json()))
    assert manifest["kind"] == "single"
    assert {Path(p["png"]).name for p in manifest["plots"]} == {p.png.name for p in single_report.plots}
    assert set(manifest["files"]) == {"html", "md", "rst"}


def test_runs_without_quality_are_compared_on_latency(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    names = ["mlp-synthetic-inputs", "blobs-mlp-int8"]
    result = render_report([rt.fixture_path(n) for n in names], tmp_path, formats="md,html", jobs=1)
    tables = rt.parse_markdown_tables(result.files["md"].read_text(encoding="utf-8"))
    assert [r[:2] for r in tables["latency-stats"][1]] == [[n, "host"] for n in names]
    assert [r[0] for r in tables["quality"][1]] == ["blobs-mlp-int8"]
    assert ("quality", "mlp-synthetic-inputs", "quality not applicable: no dataset") in result.left_out
    assert ("trade-off chart", "mlp-synthetic-inputs", "no accuracy") in result.left_out
    page = result.files["html"].read_text(encoding="utf-8")
    assert (
        "<strong>quality:</strong> mlp-synthetic-inputs left out: quality not applicable: no dataset" in page
    )
    assert "Quality not applicable: no dataset." in page


def test_a_failing_worker_leaves_its_figures_to_this_process(
    tmp_path: Path, rt: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from edgeai_report import render, render_report

    monkeypatch.setattr(render, "_BOOT", "import sys; sys.exit(3)")
    monkeypatch.setattr(render, "WORKER_START_COST", 0.0)
    result = render_report([rt.fixture_path("blobs-mlp-int8")], tmp_path, formats="md", jobs=2)
    assert len(result.plots) == 4 and all(p.png.is_file() and p.svg.is_file() for p in result.plots)
    assert "a drawing worker failed (exit 3)" in caplog.text


def test_the_size_of_a_multi_file_artifact_is_its_total_and_says_how_many_files() -> None:
    from edgeai_report.content import _size_text

    files = [{"name": "m.onnx", "size_bytes": 82_000}, {"name": "m.onnx.data", "size_bytes": 44_718_000}]
    run = SimpleNamespace(final_artifact={"format": "onnx", "size_bytes": 44_800_000, "files": files})
    assert _size_text(run) == "onnx, 42.7 MiB (44800000 bytes in 2 files)"  # type: ignore[arg-type]
    single = SimpleNamespace(final_artifact={"format": "onnx", "size_bytes": 82_000})
    assert _size_text(single) == "onnx, 80.1 KiB (82000 bytes)"  # type: ignore[arg-type]
