"""``edgeai grid``: one cell per model, every failure recorded where it happened, tables rendered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_compat.grid import compare, run_grid, select_suites
from edgeai_compat.tables import markdown_table, rst_table
from edgeai_core.cli import cli


def cells_by_model(document: dict[str, Any], suite: str) -> dict[str, dict[str, Any]]:
    return {c["model"]: c for c in document["cells"] if c["suite"] == suite}


def test_every_failure_is_recorded_in_its_cell_and_the_grid_goes_on(
    make_host: Any, testkit: Any, tmp_path: Path
) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    host = make_host("core", "onnx", extra=(testkit,))
    document = run_grid(host, tmp_path, suites=["testkit"], timeout_s=4.0)
    cells = cells_by_model(document, "testkit")
    assert list(cells) == ["crash", "relu", "hang", "wrong-export", "export-fails"]

    assert cells["crash"]["status"] == "error"
    assert cells["crash"]["error"] == "worker: crashed (signal 11: SIGSEGV)"
    assert cells["hang"]["error"] == "worker: timed out after 4 s"

    relu = cells["relu"]  # right after the crash, in a fresh worker
    assert relu["status"] == "ok" and relu["error"] is None
    assert relu["export"]["status"] == "ok" and relu["export"]["exporter"] == "onnx.helper"
    assert relu["export"]["opset"] == 17 and relu["export"]["ops"] == ["Relu"]
    assert relu["export"]["checker"] == "ok"
    assert relu["onnx_run"] == {
        "status": "ok",
        "runtime": "onnxruntime",
        "max_abs_diff": 0.0,
        "error": None,
        "detail": None,
    }
    assert relu["import"]["status"] == "ok" and relu["import"]["max_abs_diff"] == 0.0

    wrong = cells["wrong-export"]
    assert wrong["status"] == "mismatch"
    assert wrong["onnx_run"]["status"] == "mismatch" and wrong["onnx_run"]["max_abs_diff"] > 0.1
    assert wrong["error"].startswith("onnx_run: output 0 differs by up to")
    assert wrong["import"]["status"] == "mismatch"

    failed = cells["export-fails"]
    assert failed["status"] == "error"
    assert failed["export"] == {
        **failed["export"],
        "status": "error",
        "error": "the testkit exporter has no rule for this model",
    }
    assert failed["onnx_run"]["status"] == "skipped" and failed["import"]["status"] == "skipped"

    suite = document["suites"][0]
    assert suite["status"] == "ok" and suite["models"] == 5 and suite["runtime"] == "onnxruntime"
    assert json.loads((tmp_path / "grid.json").read_text()) == document
    markdown = (tmp_path / "grid.md").read_text()
    assert "| crash | layer | not run: worker: crashed (signal 11: SIGSEGV) |" in markdown
    assert "| export-fails | layer | error: the testkit exporter has no rule for this model |" in markdown
    assert "| testkit | numpy | testkit-to-onnx | 5 | 2/5 | 1/5 | 1/5 |" in markdown
    log = (tmp_path / "logs" / "testkit.log").read_text()  # the crash left its Python stack in the log
    assert "Fatal Python error: Segmentation fault" in log and "in export" in log
    rst = (tmp_path / "grid.rst").read_text()
    assert ".. list-table::" in rst and "   * - relu" in rst


def test_the_runtime_option_picks_the_runtime_that_runs_the_exported_files(
    make_host: Any, testkit: Any, reference_runtime: Any, tmp_path: Path
) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    host = make_host("core", "onnx", extra=(testkit, reference_runtime))

    def onnx_run(**options: Any) -> dict[str, Any]:
        document = run_grid(host, tmp_path, suites=["testkit"], models=["relu"], isolate=False, **options)
        assert document["suites"][0]["runtime"] == document["cells"][0]["onnx_run"]["runtime"]
        return dict(document["cells"][0]["onnx_run"])

    assert onnx_run()["runtime"] == "onnxruntime"  # the default preference, where installed
    assert onnx_run(runtime="onnx-reference") == {
        "status": "ok",
        "runtime": "onnx-reference",
        "max_abs_diff": 0.0,
        "error": None,
        "detail": None,
    }
    # a runtime that is not installed: the first installed one that loads onnx, by name
    assert onnx_run(runtime="no-such-runtime")["runtime"] == "onnx-reference"
    result = CliRunner().invoke(
        cli,
        ["grid", "-o", str(tmp_path), "--converters", "testkit", "--models", "relu", "--runtime",
         "onnx-reference", "--json"],
        obj={"host": host},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cells"][0]["onnx_run"]["runtime"] == "onnx-reference"


def test_the_torch_suite_exports_through_the_converter_and_says_why_import_is_unsupported(
    make_host: Any, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    host = make_host("core", "torch", "onnx")
    models = [
        "digits-cnn",
        "depthwise-conv2d",
        "lstm",
        "multihead-attention",
        "embedding",
        "upsample-bilinear",
    ]
    document = run_grid(host, tmp_path, suites=["torch"], models=models)
    cells = cells_by_model(document, "torch")
    assert sorted(cells) == sorted(models)  # in the suite's order
    for name in ("digits-cnn", "depthwise-conv2d", "lstm", "embedding", "upsample-bilinear"):
        cell = cells[name]
        assert cell["status"] == "ok", cell
        assert cell["export"]["opset"] == 17 and cell["export"]["exporter"] == "torchscript"
        assert cell["onnx_run"]["max_abs_diff"] < 1e-5
        assert cell["import"]["status"] == "unsupported" and "onnx2torch" in cell["import"]["reason"]
    assert {"Conv", "Gemm", "MaxPool", "Relu"} <= set(cells["digits-cnn"]["export"]["ops"])
    assert "LSTM" in cells["lstm"]["export"]["ops"]
    assert "Gather" in cells["embedding"]["export"]["ops"]  # int64 token ids in
    assert "Resize" in cells["upsample-bilinear"]["export"]["ops"]
    attention = cells["multihead-attention"]
    assert attention["status"] == "error" and attention["export"]["status"] == "error"
    assert "aten::_native_multi_head_attention" in attention["export"]["error"]
    assert document["suites"][0]["versions"]["torch"].startswith("2.")


def test_the_torch_suites_have_models_layers_and_blocks(make_host: Any) -> None:
    pytest.importorskip("torch")
    from edgeai_core.components import Context

    host = make_host("core", "torch")
    for record in select_suites(host, ["torch-to-onnx"]):
        suite = record.create({}, context=Context())
        models = suite.models()
        assert len(models) >= 12
        assert {m.category for m in models} == {"model", "block", "layer"}
        assert {"digits-cnn", "mobilenetv2", "conv2d", "lstm", "gru", "multihead-attention"} <= {
            m.name for m in models
        }
    assert [s.name for s in select_suites(host, ["torch-to-onnx"])] == ["torch", "torch-dynamo"]
    assert [s.name for s in select_suites(host, ["torch"])] == ["torch"]  # a suite's own name wins


def test_compare_reports_shape_and_value_disagreement() -> None:
    import numpy as np

    a = np.zeros((2, 3), np.float32)
    assert compare([a], [a])["status"] == "ok"
    assert compare([a + 1e-6], [a]) == {"status": "ok", "max_abs_diff": pytest.approx(1e-6), "detail": None}
    off = compare([a + 0.5], [a])
    assert off["status"] == "mismatch" and off["detail"] == "output 0 differs by up to 0.5"
    assert compare([np.zeros((3, 3))], [a])["detail"] == "output 0 has shape (3, 3), expected (2, 3)"
    assert compare([a, a], [a])["detail"] == "2 output(s), expected 1"
    nan = np.array([np.nan, 1.0])
    assert compare([nan], [nan])["status"] == "ok"


def test_tables_keep_long_and_odd_cells_on_one_line() -> None:
    md = markdown_table(["a", "b"], [["x|y", "line\nbreak"], [None, 1.5e-7]])
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | line break |", "| - | 1.5e-07 |"]
    rst = rst_table(["a", "b"], [["*x*", "`y`"]], title="T")
    assert rst.splitlines()[:4] == [".. list-table:: T", "   :header-rows: 1", "", "   * - a"]
    assert "   * - \\*x\\*" in rst and "     - \\`y\\`" in rst


def test_cli_grid_json_list_and_errors(testkit_cli: Any, refused: Any, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    invoke = testkit_cli
    result = invoke(
        "grid", "-o", str(tmp_path), "--converters", "numpy", "--models", "relu,export-fails", "--json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [c["model"] for c in document["cells"]] == ["relu", "export-fails"]
    # no onnx runtime in this host: the export is still checked, the run says what to install
    relu = document["cells"][0]
    assert relu["onnx_run"]["status"] == "skipped" and "pip install edgeai-onnx" in relu["onnx_run"]["error"]
    assert relu["status"] == "ok" and relu["export"]["ops"] == ["Relu"]

    listed = invoke("grid", "--list")
    assert listed.exit_code == 0 and "testkit (numpy, testkit-to-onnx" in listed.stdout
    assert "crash, relu, hang, wrong-export, export-fails" in listed.stdout

    grid = ("grid", "-o", str(tmp_path))
    assert "did you mean 'testkit'" in refused(*grid, "--converters", "testkti")
    assert "grid.testkit.bogus" in refused(*grid, "--set", "testkit.bogus=1")
    assert "no selected grid suite has nope" in refused(*grid, "--models", "nope")


def test_the_full_torch_grid_runs_and_renders_tables(make_host: Any, tmp_path: Path) -> None:
    """The issue's bar: the grid runs in CI with at least 12 torch models and renders its tables."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    document = run_grid(make_host("core", "torch", "onnx"), tmp_path, suites=["torch"])
    cells = cells_by_model(document, "torch")
    assert len(cells) >= 12
    ok = [c for c in cells.values() if c["status"] == "ok"]
    assert len(ok) >= 12 and all(c["onnx_run"]["max_abs_diff"] < 1e-4 for c in ok)
    failed = [c for c in cells.values() if c["status"] != "ok"]
    assert all(c["export"].get("error") or c["onnx_run"].get("detail") for c in failed), "failures say why"
    markdown = (tmp_path / "grid.md").read_text()
    rst = (tmp_path / "grid.rst").read_text()
    for name in cells:
        assert name in markdown and name in rst
