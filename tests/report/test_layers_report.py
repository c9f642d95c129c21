"""The report's per-layer sections: each run's profile and per-layer numerics, and the cross-backend table that
aligns the layers of one source model by ONNX node (fused groups as groups, unknown mappings said so)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def _layer(name: str, op: str, us: float, nodes: list[str], share: float) -> dict[str, Any]:
    mapping = "unknown" if not nodes else "exact" if len(nodes) == 1 else "fused"
    return {
        "name": name, "op_type": op, "onnx_nodes": nodes, "mapping": mapping, "fused": len(nodes) > 1,
        "mean_us": us, "share": share, "calls": 1.0,
    }  # fmt: skip


def _doc(name: str, runtime: str, layers: list[dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(json.loads((FIXTURES / "onnxruntime-float.json").read_text()))
    doc["name"] = name
    total = sum(layer["mean_us"] for layer in layers)
    doc["profile"] = {
        "status": "ok", "runtime": runtime, "where": "local", "profiler": runtime, "runs": 10,
        "model_us": total * 1.25, "layers_us": total, "coverage": 0.8, "layers": layers,
    }  # fmt: skip
    return doc


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / f"{doc['name']}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_layers_of_two_backends_are_aligned_by_onnx_node(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    unfused = _doc(
        "ort-float",
        "onnxruntime",
        [
            _layer("conv2", "Conv", 40.0, ["conv2"], 0.4),
            _layer("conv1", "Conv", 30.0, ["conv1"], 0.3),
            _layer("relu1", "Relu", 20.0, ["relu1"], 0.2),
            _layer("relu2", "Relu", 10.0, ["relu2"], 0.1),
        ],
    )
    fused = _doc(
        "tvm",
        "tvm",
        [
            _layer("fused_conv2d_relu", "fused_conv2d_relu", 50.0, ["conv1", "relu1"], 0.5),
            _layer("conv2d1", "conv2d", 25.0, ["conv2"], 0.25),
            _layer("te_layout", "layout_transform", 25.0, [], 0.25),
        ],
    )
    result = render_report(
        [_write(tmp_path, unfused), _write(tmp_path, fused)], tmp_path / "r", formats="md", jobs=1
    )
    markdown = result.files["md"].read_text(encoding="utf-8")
    tables = rt.parse_markdown_tables(markdown)
    header, rows = tables[next(k for k in tables if k.startswith("layers-"))]
    assert header == ["ONNX node(s)", "ort-float (onnxruntime)", "tvm (tvm)"]
    by_group = {row[0]: row[1:] for row in rows}
    # relu2 ran alone in one backend and not at all in the other: its own row
    assert by_group == {
        "conv1 + relu1": ["50.0 us (50%)", "50.0 us (50%)"],
        "conv2": ["40.0 us (40%)", "25.0 us (25%)"],
        "(no ONNX node known)": ["-", "25.0 us (25%)"],
        "relu2": ["10.0 us (10%)", "-"],
    }
    assert [row[0] for row in rows][:2] == ["conv1 + relu1", "conv2"]
    assert "## Per-layer profiles" in markdown and "#### Per-layer profile" in markdown
    assert (tmp_path / "r" / "img" / "tvm-layer-times.png").is_file()


def test_per_layer_numerics_show_the_ranking_and_the_growth_curve(
    tmp_path: Path, rt: SimpleNamespace
) -> None:
    from edgeai_report import render_report

    doc = copy.deepcopy(json.loads((FIXTURES / "onnxruntime-int8.json").read_text()))
    doc["name"] = "int8"
    tensors = [
        {"tensor": "r1", "node": "conv1", "nodes": ["conv1", "relu1"], "op_type": "Conv", "index": 0,
         "cosine_similarity": 0.9999, "snr_db": 39.0, "max_abs_error": 0.05, "relative_error": 0.011,
         "input_relative_error": 0.0, "added_error": 0.011},
        {"tensor": "r2", "node": "conv2", "nodes": ["conv2", "relu2"], "op_type": "Conv", "index": 1,
         "cosine_similarity": 0.4, "snr_db": 0.6, "max_abs_error": 2.0, "relative_error": 0.93,
         "input_relative_error": 0.011, "added_error": 0.919},
    ]  # fmt: skip
    ranking = [
        {"rank": 1, "node": "conv2", "nodes": ["conv2", "relu2"], "op_type": "Conv", "tensor": "r2",
         "added_error": 0.919, "relative_error": 0.93, "snr_db": 0.6,
         "suggestions": ['keep it in float: exclude_nodes = ["conv2", "relu2"]', "per_channel = true"]},
    ]  # fmt: skip
    step = {
        "step": "onnx-quantize", "kind": "compiler", "format": "onnx", "runtime": "onnxruntime", "status": "ok",
        "precision": "int8", "layers": {"status": "ok", "samples": 8, "reference_runtime": "onnxruntime",
        "runtime": "onnxruntime", "tensors": tensors, "ranking": ranking, "notes": []},
    }  # fmt: skip
    doc["fidelity"] = {"enabled": True, "steps": [step]}
    result = render_report([_write(tmp_path, doc)], tmp_path / "r", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    tables = rt.parse_markdown_tables(markdown)
    header, rows = tables[next(k for k in tables if k.endswith("-layers-0"))]
    assert header == ["rank", "node(s)", "op type", "added error", "relative error", "SNR dB", "try"]
    assert rows == [
        ["1", "conv2 + relu2", "Conv", "0.9190", "0.9300", "0.6",
         'keep it in float: exclude_nodes = ["conv2", "relu2"]; per_channel = true'],
    ]  # fmt: skip
    assert (tmp_path / "r" / "img" / "int8-error-growth-0.png").is_file()


def test_a_run_without_per_layer_data_renders_as_before(tmp_path: Path) -> None:
    from edgeai_report import render_report

    result = render_report([FIXTURES / "onnxruntime-float.json"], tmp_path / "r", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    assert "Per-layer" not in markdown
