"""The plugin: the `edgeai report` command, its light registration module, and the demo's closing report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result

from edgeai_core import DemoVariant, hookimpl
from edgeai_core.cli import cli
from edgeai_core.plugins import PluginHost


def test_plugin_module_imports_neither_numpy_nor_matplotlib(python_stdout: Callable[[str], str]) -> None:
    code = (
        "import sys, edgeai_report, edgeai_report.plugin, edgeai_report.command; "
        "heavy = [m for m in ('numpy', 'matplotlib', 'PIL', 'torch', 'onnxruntime') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    stdout = python_stdout(code)
    assert stdout.strip() == "", f"imported at registration: {stdout}"


def ok(host: PluginHost, *args: str) -> Result:
    """The CLI run in-process on ``host``; it must succeed."""
    result = CliRunner().invoke(cli, list(args), obj={"host": host})
    assert result.exit_code == 0, result.output
    return result


def sets(*overrides: str) -> list[str]:
    """``--set`` before each of ``overrides``."""
    return [arg for override in overrides for arg in ("--set", override)]


def test_report_command_is_registered(host: PluginHost) -> None:
    runner = CliRunner()
    listing = runner.invoke(cli, ["--help"], obj={"host": host})
    assert listing.exit_code == 0 and "report" in listing.output
    helped = runner.invoke(cli, ["report", "--help"], obj={"host": host})
    assert helped.exit_code == 0
    for option in (
        "--output",
        "--title",
        "--format",
        "--names",
        "--img-dir",
        "--root-dir",
        "--baseline",
        "--json",
    ):
        assert option in helped.output


def test_report_command_renders_and_prints_json(
    host: PluginHost, tmp_path: Path, rt: SimpleNamespace
) -> None:
    out = tmp_path / "report"
    float_run, int8_run = rt.fixture_path("onnxruntime-float"), rt.fixture_path("onnxruntime-int8")
    options = ["--names", "float,int8", "--title", "Quantization check", "--format", "html,md", "--jobs", "1"]
    result = ok(host, "report", str(float_run), str(int8_run), "-o", str(out), *options, "--json")
    manifest = json.loads(result.stdout)
    assert manifest["kind"] == "comparison" and manifest["runs"] == ["float", "int8"]
    assert set(manifest["files"]) == {"html", "md"} and not (out / "report.rst").exists()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<title>Quantization check</title>" in page
    deltas = rt.parse_markdown_tables((out / "report.md").read_text(encoding="utf-8"))["deltas"]
    assert rt.row_of(deltas, "int8")[rt.column(deltas, "baseline")] == "float"


def test_report_command_prints_the_files(host: PluginHost, tmp_path: Path, rt: SimpleNamespace) -> None:
    lost = rt.fixture_path("blobs-mlp-int8-tcp-lost")
    result = ok(host, "report", str(lost), "-o", str(tmp_path), "--format", "html", "--jobs", "1")
    lines = result.stdout.splitlines()
    assert lines[1] == f"html: {tmp_path / 'report.html'}"
    assert lines[-1] == f"open {(tmp_path / 'report.html').resolve().as_uri()}"


class DemoPlugin:
    """Two demo variants built from the core's numpy components (fast, no framework)."""

    @hookimpl
    def edgeai_register_demo_variants(self) -> list[DemoVariant]:
        base = {
            "dataset": {"name": "gaussian-blobs"},
            "model": {"name": "numpy-mlp", "epochs": 20},
            "runtime": {"name": "numpy"},
        }
        return [
            DemoVariant(name="mlp-float", summary="numpy MLP, float", order=10, config=dict(base)),
            DemoVariant(
                name="mlp-int8",
                summary="numpy MLP, int8 weights",
                order=20,
                config={**base, "steps": [{"name": "weight-int8"}]},
            ),
        ]


def test_demo_ends_with_the_comparison_report(host: PluginHost, tmp_path: Path, rt: SimpleNamespace) -> None:
    host.register(DemoPlugin(), name="demo-test")
    out = tmp_path / "demo"
    benchmark = sets("benchmark.min_count=200", "benchmark.min_duration_s=0.05", "benchmark.warmup=5")
    result = ok(host, "demo", "-o", str(out), *benchmark)
    page = out / "report" / "report.html"
    assert f"report: {page} (open it in a browser)" in result.stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["reports"] == [str(page)]
    tables = rt.parse_markdown_tables((out / "report" / "report.md").read_text(encoding="utf-8"))
    assert [r[0] for r in tables["runs"][1]] == ["mlp-float", "mlp-int8"]
    int8 = json.loads((out / "mlp-int8" / "results.json").read_text(encoding="utf-8"))
    rt.assert_shown(
        rt.row_of(tables["runs"], "mlp-int8")[rt.column(tables["runs"], "accuracy")],
        int8["quality"]["accuracy"],
    )
    assert rt.row_of(tables["deltas"], "mlp-int8")[1:3] == ["quantized", "mlp-float"]


def test_a_failing_report_does_not_fail_the_demo(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgeai_report.render

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(edgeai_report.render, "render_report", broken)
    host.register(DemoPlugin(), name="demo-test")
    benchmark = sets("benchmark.min_count=100", "benchmark.min_duration_s=0.01")
    result = ok(host, "demo", "-o", str(tmp_path), "--only", "mlp-float", *benchmark, "--json")
    assert json.loads(result.stdout)["reports"] == []
    assert "plugin 'report' failed in edgeai_demo_finished: RuntimeError: disk full" in result.stderr


def test_report_csv_has_one_row_per_run(host: PluginHost, tmp_path: Path, rt: SimpleNamespace) -> None:
    import csv
    import io

    from edgeai_core.summarycsv import CSV_COLUMNS

    names = ["onnxruntime-float", "blobs-mlp-int8-killed"]
    files = [str(rt.fixture_path(name)) for name in names]
    result = ok(host, "report", *files, "-o", str(tmp_path / "r"), "--format", "md", "--csv", "-")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))  # stdout holds the CSV only
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["road"] for r in rows] == names
    doc = rt.load_fixture("onnxruntime-float")
    stats = doc["latency"]["stats"]
    assert rows[0]["status"] == "complete" and float(rows[0]["accuracy"]) == doc["quality"]["accuracy"]
    assert [float(rows[0][f"p{q}_ns"]) for q in (50, 99)] == [stats["p50"], stats["p99"]]
    assert int(rows[0]["count"]) == stats["count"]
    assert rows[1]["status"] == "interrupted"
    assert (tmp_path / "r" / "report.md").is_file()
    to_file = ok(
        host,
        "report",
        *files,
        "-o",
        str(tmp_path / "r2"),
        "--format",
        "md",
        "--csv",
        str(tmp_path / "runs.csv"),
    )
    assert "report.md" in to_file.stdout
    assert [r["road"] for r in csv.DictReader((tmp_path / "runs.csv").open())] == names
