"""The report shows a run's scenario section: the table of its runs and, for a QPS search, the curve."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from edgeai_core.config import load_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import Runner

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blobs-mlp.toml"
QUICK = ["benchmark.warmup=2", "benchmark.min_count=10", "benchmark.min_duration_s=0", "model.epochs=20"]


def test_a_qps_search_is_a_table_and_a_curve(tmp_path: Path, rt: SimpleNamespace) -> None:
    import edgeai_core.plugin
    from edgeai_report import render_report

    host = PluginHost(discover=False, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    scenario = ["benchmark.scenario=server", "benchmark.qps_search=true", "benchmark.latency_bound_ms=1000",
                "benchmark.max_count=500", "benchmark.concurrency=2"]  # fmt: skip
    config = load_config(EXAMPLE, [*QUICK, *scenario, "name=search"])
    doc = Runner(plan_pipeline(config, host), tmp_path / "search", host=host).run()
    assert doc["status"] == "complete", doc["error"]
    section = doc["scenario"]
    assert section["scenario"] == "server" and section["mode"] == "serialized"  # numpy: not thread-safe
    assert len(section["runs"]) == 8 and section["search"]["best_qps"] is not None
    result = render_report([tmp_path / "search" / "results.json"], tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    header, rows = rt.parse_markdown_tables(markdown)["search-scenario"]
    assert header[:3] == ["offered QPS", "requests", "inferences/s"] and header[-1] == "bound met"
    assert [row[0] for row in rows] == [f"{r['offered_qps']:.1f}" for r in section["runs"]]
    assert [row[1] for row in rows] == [str(r["count"]) for r in section["runs"]]
    assert all(row[-1] == "yes" for row in rows)  # a bound of one second
    assert "## Scenario: server" in markdown and "Highest QPS meeting the bound" in markdown
    plot = next(p for p in result.plots if p.key == "search-qps-search")
    assert plot.png.is_file() and plot.svg.is_file() and "img/search-qps-search.png" in markdown


def test_a_run_without_a_scenario_has_no_scenario_heading(rt: SimpleNamespace, tmp_path: Path) -> None:
    from edgeai_report import render_report

    fixture = Path(__file__).parent / "fixtures" / "blobs-mlp-int8.json"
    result = render_report([fixture], tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    assert "Scenario:" not in markdown and not any(p.key.endswith("qps-search") for p in result.plots)
