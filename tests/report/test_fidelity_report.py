"""The report shows the per-step fidelity section, and the comparison says when a build is surprisingly slow."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from edgeai_core.config import load_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import Runner

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blobs-mlp.toml"
QUICK = ["benchmark.warmup=2", "benchmark.min_count=10", "benchmark.min_duration_s=0", "model.epochs=20"]


def _run(tmp_path: Path, name: str, *overrides: str) -> tuple[Path, dict[str, Any]]:
    import edgeai_core.plugin

    host = PluginHost(discover=False, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    config = load_config(EXAMPLE, [*QUICK, f"name={name}", *overrides])
    doc = Runner(plan_pipeline(config, host), tmp_path / name, host=host).run()
    return tmp_path / name / "results.json", doc


def _shown(entry: dict[str, Any]) -> list[str]:
    return [
        entry["step"],
        entry["kind"],
        entry["precision"],
        entry["runtime"],
        f"{entry['max_abs_diff']:.3g}",
        f"{entry['mean_abs_diff']:.3g}",
        f"{entry['relative_error']:.3g}",
        f"{entry['cosine_similarity']:.5f}",
        f"{entry['top1_agreement']:.3f}",
        "within",
    ]


def test_the_single_run_report_shows_each_steps_fidelity(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    path, doc = _run(tmp_path, "blobs-int8")
    result = render_report([path], tmp_path / "report", formats="md,html", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    tables = rt.parse_markdown_tables(markdown)
    key = next(k for k in tables if k.endswith("-fidelity"))
    header, rows = tables[key]
    assert header == [
        "step", "kind", "precision", "runtime", "max abs diff", "mean abs diff", "relative error", "cosine",
        "top-1 agreement", "tolerance",
    ]  # fmt: skip
    assert rows == [_shown(e) for e in doc["fidelity"]["steps"]]
    assert [r[0] for r in rows] == ["weight-int8", "numpy"]
    assert (
        "Reference: numpy-mlp (npz-mlp) in numpy; inputs: 32 samples of gaussian-blobs's test split."
        in markdown
    )
    html_tables = rt.parse_html(result.files["html"].read_text(encoding="utf-8")).tables
    assert html_tables[key][1] == rows


def test_the_comparison_shows_fidelity_and_says_when_an_int8_build_is_slow(
    tmp_path: Path, rt: SimpleNamespace
) -> None:
    from edgeai_report import render_report

    float_path, float_doc = _run(tmp_path, "blobs-float", "steps=[]")
    int8_path, int8_doc = _run(tmp_path, "blobs-int8")
    assert float_doc["fidelity"]["steps"][0]["precision"] == "float32"
    # the report's logic, not this machine's timing: the int8 run made 3x slower than the float one
    int8_doc["latency"]["stats"]["median"] = 3 * float_doc["latency"]["stats"]["median"]
    int8_path.write_text(json.dumps(int8_doc), encoding="utf-8")
    result = render_report([float_path, int8_path], tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    header, rows = rt.parse_markdown_tables(markdown)["fidelity"]
    assert header[0] == "run" and [r[:2] for r in rows] == [
        ["blobs-float", "numpy"],
        ["blobs-int8", "weight-int8"],
        ["blobs-int8", "numpy"],
    ]
    assert rows[1][1:] == _shown(int8_doc["fidelity"]["steps"][0])
    assert "Guidance: builds much slower than the float model" in markdown
    assert (
        "blobs-int8 (int8, in numpy) is 3.0x slower than blobs-float (float32, in numpy), the fastest float run "
        "of numpy-mlp: try other weight-int8 settings" in markdown
    )
