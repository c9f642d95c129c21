"""``edgeai bench model.so``: a library compiled here by the tvm compiler component (with its sidecar), through the
real console script, locally and on a real ``edgeai serve --allow-native-code``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.subprocess

FAST = ("--count", "30", "--warmup", "2")


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """softmax(x @ W) for x (batch, 16), written with onnx.helper (no sidecar)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    weights = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32), "W"
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Softmax", ["h"], ["y"], axis=-1)],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def library(build: Any, tiny_onnx: Path) -> Path:
    """The tiny model compiled by the tvm compiler for this CPU: model .so + sidecar."""
    artifact = build("model", "onnx-file", path=str(tiny_onnx)).prepare(None)
    compiled = build("compiler", "tvm").compile(artifact, None)
    assert compiled.format == "tvm" and compiled.sidecar.is_file()
    return Path(compiled.path)


def test_a_compiled_library_is_benchmarked_by_its_sidecar(
    library: Path, tmp_path: Path, bench_json: Any
) -> None:
    expect = {"model_component": "artifact-file", "format": "tvm", "runtime": "tvm", "count": 30}
    summary = bench_json(
        library, *FAST, "--threads", "1", cwd=tmp_path, expect={**expect, "status": "complete"}
    )
    doc = json.loads((tmp_path / summary["results"]).read_text())
    assert doc["plan"]["model"]["params"] == {"path": str(library), "format": "tvm"}


def test_npz_inputs_reach_the_library(
    library: Path, tmp_path: Path, bench_json: Any, edgeai_console: Any
) -> None:
    np.savez(tmp_path / "inputs.npz", x=np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32))
    assert (
        bench_json(library, *FAST, "--inputs", "inputs.npz", cwd=tmp_path)["inputs"]
        == "inputs.npz (8 samples)"
    )
    np.savez(tmp_path / "bad.npz", x=np.zeros((8, 15), np.float32))
    bad = edgeai_console("bench", str(library), "--inputs", "bad.npz", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: --inputs bad.npz: input 'x' has shape (8, 15), expected (N, 16) (the first axis counts samples)"
    )


def test_a_library_without_its_sidecar_is_refused(library: Path, tmp_path: Path, edgeai_console: Any) -> None:
    lone = tmp_path / "model.so"
    lone.write_bytes(library.read_bytes())
    run = edgeai_console("bench", str(lone), cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith(
        f"error: MODEL_FILE: {lone}: no installed model loads '.so' files and there is no "
    )
    assert "model.so.edgeai.json" in run.stderr


def test_a_compiled_library_on_a_remote_target(library: Path, tmp_path: Path, bench_remote_json: Any) -> None:
    summary = bench_remote_json("tvm", library, *FAST, cwd=tmp_path, server_args=("--allow-native-code",))
    assert summary["runtime"] == "tvm"
    assert summary["count"] == 30 and summary["target_p50_ns"] > 0


def test_an_onnx_file_with_runtime_tvm_is_told_and_then_compiled_in_the_same_command(
    tiny_onnx: Path, tmp_path: Path, edgeai_console: Any, bench_json: Any
) -> None:
    onnx_file = tiny_onnx
    told = edgeai_console("bench", str(onnx_file), "--runtime", "tvm", cwd=tmp_path)
    assert told.returncode == 2
    assert told.stderr.strip() == (
        "error: --runtime tvm: it loads tvm models, and tiny.onnx is onnx; compile it in the same command with "
        '--set \'steps=[{"name": "tvm"}]\' (compiler tvm: onnx -> tvm)'
    )
    summary = bench_json(
        onnx_file, "--runtime", "tvm", "--set", 'steps=[{"name": "tvm"}]', *FAST, cwd=tmp_path
    )
    assert (summary["format"], summary["runtime"], summary["count"]) == ("onnx", "tvm", 30)
    doc = json.loads((tmp_path / summary["results"]).read_text())
    assert [s["name"] for s in doc["steps"]] == ["onnx-file", "tvm", "tvm"]
