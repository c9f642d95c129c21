"""``edgeai onnx-backend-tests``: ONNX's own backend test data on every installed ONNX backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeai_compat.onnx_backends import load_cases, load_data, run_backend_tests, summarize

pytest.importorskip("onnx")

CASES = ["test_Conv2d", "test_AvgPool1d", "test_sequence_model1", "test_squeezenet"]


def results_of(document: dict[str, Any], backend: str) -> dict[str, dict[str, Any]]:
    return {r["case"]: r for r in document["results"] if r["backend"] == backend}


def test_the_cases_and_tolerances_are_onnx_own() -> None:
    cases = {c["name"]: c for c in load_cases()}
    kinds = [c["kind"] for c in cases.values()]
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "light": 9,
        "pytorch-converted": 82,
        "pytorch-operator": 35,
        "simple": 23,
    }
    assert cases["test_densenet121"]["rtol"] == 2e-3  # data.json of ONNX's real/test_densenet121
    assert cases["test_resnet50"]["model"].endswith("light/light_resnet50.onnx")
    # light inputs are ONNX's runner's dummy data: arange(n) / n in the graph's input shape
    [(inputs, outputs)] = load_data(cases["test_resnet50"])
    assert inputs[0].shape == (1, 3, 224, 224) and inputs[0].dtype.name == "float32"
    assert inputs[0].ravel()[1] == pytest.approx(1 / inputs[0].size)
    assert outputs[0].shape == (1, 1000)


def test_onnxruntime_passes_fails_to_compile_and_reads_light_models(make_host: Any, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    host = make_host("core", "onnx")
    document = run_backend_tests(host, tmp_path, cases=CASES)
    results = results_of(document, "onnxruntime")
    assert set(results) == set(CASES)
    assert results["test_Conv2d"]["status"] == "pass"
    assert results["test_squeezenet"]["status"] == "pass"  # the generated input reproduces ONNX's output
    assert results["test_squeezenet"]["max_abs_diff"] < 1e-3
    assert results["test_sequence_model1"]["status"] == "pass"  # sequences go through as lists
    avgpool = results["test_AvgPool1d"]  # an opset-6 model: ONNX Runtime dropped those kernels
    assert avgpool["status"] == "compile-error"
    assert "Could not find an implementation for AveragePool(1)" in avgpool["error"]
    assert "\n" not in avgpool["error"] and not avgpool["error"].startswith("[ONNXRuntimeError]")
    counts = document["summary"]["onnxruntime"]["all"]
    assert counts == summarize(document["results"], "onnxruntime")
    assert (counts["pass"], counts["compile-error"], counts["total"], counts["pass_rate"]) == (3, 1, 4, 0.75)
    assert document["summary"]["onnxruntime"]["light"]["pass_rate"] == 1.0
    assert json.loads((tmp_path / "onnx-backend-tests.json").read_text()) == document
    markdown = (tmp_path / "onnx-backend-tests.md").read_text()
    assert "| onnxruntime | all | 3 | 0 | 1 | 0 | 0 | 4 | 75.0% |" in markdown
    assert "| test_AvgPool1d | pytorch-converted | compile: Could not find an implementation" in markdown
    assert ".. list-table:: Pass rates" in (tmp_path / "onnx-backend-tests.rst").read_text()
    assert not list((tmp_path / "work").rglob("*.so"))  # work files are removed unless --keep-work


def test_a_backend_crash_costs_one_case(make_host: Any, testkit: Any, tmp_path: Path) -> None:
    host = make_host("core", extra=(testkit,))
    cases = ["test_operator_add_broadcast", "test_operator_mm", "test_Softsign"]
    document = run_backend_tests(
        host,
        tmp_path,
        backends=["reference"],
        cases=cases,
        params={"reference": {"crash_on": "test_operator_mm"}},
    )
    results = results_of(document, "reference")
    assert results["test_operator_mm"]["status"] == "crashed"
    assert results["test_operator_mm"]["error"] == "crashed (signal 11: SIGSEGV)"
    assert results["test_operator_add_broadcast"]["status"] == "pass"
    assert results["test_Softsign"]["status"] == "pass"  # in a fresh worker after the crash
    assert document["backends"][0]["versions"]["onnx"]


def test_cli_lists_runs_and_rejects(testkit_cli: Any, refused: Any, tmp_path: Path) -> None:
    invoke = testkit_cli
    listed = invoke("onnx-backend-tests", "--list")
    assert listed.exit_code == 0 and "reference" in listed.stdout
    ran = invoke("onnx-backend-tests", "-o", str(tmp_path), "--cases", "test_operator_exp", "--json")
    assert ran.exit_code == 0, ran.output
    assert [r["status"] for r in json.loads(ran.stdout)["results"]] == ["pass"]
    tests = ("onnx-backend-tests", "-o", str(tmp_path))
    assert "did you mean 'reference'" in refused(*tests, "--backends", "refrence")
    assert "--kinds: unknown kind 'heavy'" in refused(*tests, "--kinds", "heavy")
    assert "no test case is named test_nope" in refused(*tests, "--cases", "test_nope")
    table = invoke(
        "onnx-backend-tests",
        "-o",
        str(tmp_path),
        "--kinds",
        "pytorch-operator",
        "--cases",
        "test_operator_exp,test_operator_sqrt",
    )
    assert table.exit_code == 0 and "100.0%" in table.stdout


def test_tvm_compiles_each_case_through_its_compiler_and_runtime(make_host: Any, tmp_path: Path) -> None:
    pytest.importorskip("tvm")
    host = make_host("core", "tvm")
    cases = ["test_operator_mm", "test_operator_index", "test_strnorm_model_monday_empty_output"]
    document = run_backend_tests(host, tmp_path, backends=["tvm"], cases=cases, keep_work=True)
    results = results_of(document, "tvm")
    # (2, 3) @ (3, 4): inputs with different leading dimensions keep their exact shapes
    assert results["test_operator_mm"]["status"] == "pass"
    assert (
        tmp_path / "work" / "tvm" / "pytorch-operator" / "test_operator_mm" / "compiler" / "model.so"
    ).is_file()
    index = results["test_operator_index"]
    assert index["status"] == "compile-error" and "ONNX frontend cannot import model.onnx" in index["error"]
    strings = results["test_strnorm_model_monday_empty_output"]
    assert strings["status"] == "compile-error" and "element type object" in strings["error"]
    assert document["backends"][0]["uses"] == ["compiler:tvm", "runtime:tvm"]
