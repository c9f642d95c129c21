"""``edgeai matrix``: every compiler x runtime combination the installed plugins allow, run like the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_compat.matrix import plan_matrix, settings
from edgeai_core import CompilerRecord, Param, RuntimeRecord, hookimpl
from edgeai_core.cli import cli

SMALL_BENCHMARK = (
    "--set",
    "benchmark.warmup=2",
    "--set",
    "benchmark.min_count=20",
    "--set",
    "benchmark.min_duration_s=0",
)


#: A factory in an installed package that is never imported: the matrix plans from records alone.
RECORDS_ONLY = "edgeai_core.records_only_factory:Y"


def _record(record_type: Any, name: str, **facts: Any) -> Any:
    return record_type(name=name, summary="x", factory=RECORDS_ONLY, **facts)


class _Extra:
    """Records only: a compiler with modes, one with a required parameter, a runtime with modes."""

    @hookimpl
    def edgeai_register_compilers(self) -> list[CompilerRecord]:
        npz = {"input_formats": ("npz-mlp",), "output_format": "npz-mlp"}
        modes = Param("mode", "choice", default="b", choices=("a", "b", "c"), help="m")
        return [
            _record(CompilerRecord, "moded", **npz, params=(modes,)),
            _record(CompilerRecord, "needy", **npz, params=(Param("key", "str", help="no default"),)),
        ]

    @hookimpl
    def edgeai_register_runtimes(self) -> list[RuntimeRecord]:
        modes = Param("mode", "choice", default="fast", choices=("fast", "safe"), help="m")
        return [
            _record(RuntimeRecord, "vm", formats=("npz-mlp",), params=(modes,)),
            RuntimeRecord(
                name="absent-rt",
                summary="its framework is not installed",
                factory="edgeai_absent_framework.rt:Runtime",
                formats=("npz-mlp",),
                install="edgeai-absent",
            ),
        ]


def test_combinations_are_planned_from_records_only(make_host: Any) -> None:
    host = make_host("core", extra=())
    host.register(_Extra(), name="extra")
    planned, rejected = plan_matrix(host, {"name": "numpy-mlp"}, {"name": "gaussian-blobs"})
    names = [v.name for v, _ in planned]
    # the default mode first; chains of two different compilers; the required-parameter compiler left out
    assert names[:3] == ["numpy", "vm.fast", "vm.safe"]
    assert "moded.b+weight-int8+numpy" in names and "weight-int8+moded.c+vm.safe" in names
    assert not [n for n in names if "needy" in n]
    # a road whose framework is missing is not listed; the plan says what to install
    assert not [n for n in names if "absent-rt" in n]
    assert {
        "combination": "absent-rt",
        "reason": "runtime:absent-rt needs 'edgeai_absent_framework', which is not installed: "
        "pip install edgeai-absent",
    } in rejected
    assert {
        "combination": "compiler:needy",
        "reason": "compiler:needy needs key (no default to use)",
    } in rejected
    echo = next(r for r in rejected if r["combination"] == "echo")
    assert "runtime 'echo' accepts echo" in echo["reason"]
    assert len(names) == 3 * (1 + 4 + 6)  # runtimes x (no step + 4 single steps + 6 ordered pairs)
    variant, raw = next((v, raw) for v, raw in planned if v.name == "moded.a+vm.safe")
    assert raw["steps"] == [{"name": "moded", "mode": "a", "kind": "compiler"}]
    assert raw["runtime"] == {"name": "vm", "mode": "safe"}
    assert variant.summary == "numpy-mlp -> moded -> runtime vm"
    assert settings(host.get("compiler", "moded"), expand=False)[0][0].label == "moded"


def test_the_matrix_matches_the_demo(make_host: Any, tmp_path: Path) -> None:
    for module in ("torch", "onnx", "onnxruntime", "sklearn"):
        pytest.importorskip(module)
    host = make_host("core", "datasets", "torch", "onnx")
    runner = CliRunner()
    demo = runner.invoke(
        cli,
        [
            "demo",
            "-o",
            str(tmp_path / "demo"),
            "--json",
            "--only",
            "torch-eager",
            "--only",
            "onnxruntime-float",
            "--only",
            "onnxruntime-int8",
            *SMALL_BENCHMARK,
        ],
        obj={"host": host},
    )
    assert demo.exit_code == 0, demo.output
    demo_rows = {r["variant"]: r for r in json.loads(demo.stdout)["variants"]}

    matrix = [
        "matrix",
        "--model",
        "digits-cnn",
        "--dataset",
        "digits",
        "-o",
        str(tmp_path / "matrix"),
        "--json",
    ]
    listed = runner.invoke(cli, [*matrix, "--list"], obj={"host": host})
    assert listed.exit_code == 0, listed.output
    # every combination of the installed plugins (core, datasets, torch, onnx); chains of two compilers need
    # two different compilers, and only onnx-quantize is installed here
    listed_roads = {c["combination"] for c in json.loads(listed.stdout)["combinations"]}
    # edgeai-torch's training-side compilers (torch-prune, torch-qat) open roads of their own before the others
    training_side = {r for r in listed_roads if r.startswith(("torch-prune+", "torch-qat+"))}
    assert {"torch-prune+onnxruntime", "torch-qat+onnxruntime", "torch-prune+torch.eager"} <= training_side
    assert listed_roads - training_side == {
        "onnxruntime",
        "torch.eager",
        "torch.traced",
        "onnx-quantize.static+onnxruntime",
        "onnx-quantize.dynamic+onnxruntime",
        "onnx-quantize.float16+onnxruntime",
    }
    pairs = {
        "torch.eager": "torch-eager",
        "onnxruntime": "onnxruntime-float",
        "onnx-quantize.static+onnxruntime": "onnxruntime-int8",
    }
    only = [arg for name in pairs for arg in ("--only", name)]
    result = runner.invoke(cli, [*matrix, *only, *SMALL_BENCHMARK], obj={"host": host})
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    rows = {r["combination"]: r for r in document["combinations"]}
    assert set(rows) == set(pairs)
    assert all(r["status"] == "complete" for r in rows.values()), rows
    assert rows["onnxruntime"]["road"] == ["torch-to-onnx (inserted)"]
    # trained once; the same seed and training give the demo's checkpoint, hence the demo's accuracies
    assert len(document["checkpoints"]) == 1
    for combination, variant in pairs.items():
        assert rows[combination]["accuracy"] == demo_rows[variant]["accuracy"], combination
        ours = json.loads((tmp_path / "matrix" / rows[combination]["results"]).read_text())
        theirs = json.loads(Path(demo_rows[variant]["results"]).read_text())
        assert ours["quality"]["confusion_matrix"] == theirs["quality"]["confusion_matrix"]
    assert rows["torch.eager"]["accuracy"] > 0.95
    assert rows["onnx-quantize.static+onnxruntime"]["size_bytes"] < rows["onnxruntime"]["size_bytes"]
    markdown = (tmp_path / "matrix" / "matrix.md").read_text()
    assert (
        "| onnx-quantize.static+onnxruntime | torch-to-onnx (inserted) -> onnx-quantize | onnx | complete |"
        in (markdown)
    )
    assert ".. list-table::" in (tmp_path / "matrix" / "matrix.rst").read_text()


def test_cli_matrix_list_and_errors(make_host: Any) -> None:
    host = make_host("core")
    runner = CliRunner()
    listed = runner.invoke(
        cli, ["matrix", "--model", "numpy-mlp", "--dataset", "gaussian-blobs", "--list"], obj={"host": host}
    )
    assert listed.exit_code == 0 and "weight-int8+numpy" in listed.stdout
    unknown = runner.invoke(
        cli, ["matrix", "--model", "numpy-mpl", "--dataset", "gaussian-blobs", "--list"], obj={"host": host}
    )
    assert (
        unknown.exit_code == 2
        and "--model: unknown model 'numpy-mpl'; did you mean 'numpy-mlp'?" in unknown.stderr
    )
