"""The report's complexity table (totals, top layers by MACs and by activation memory) and model-memory table,
read back from the rendered Markdown and compared with the document's values."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema

from edgeai_core.complexity import LayerComplexity, ModelComplexity
from edgeai_core.document import ComplexitySection, MemorySection
from edgeai_core.measurement import load_schema

FIXTURES = Path(__file__).parent / "fixtures"


def _complexity(unknown: tuple[str, ...] = ()) -> ModelComplexity:
    layers = (
        LayerComplexity(name="conv", op_type="Conv", output_shapes=((1, 8, 8, 8),), params=80,
                        weight_bytes={"float32": 320}, macs=4608, flops=9728, activation_bytes=2048),
        LayerComplexity(name="relu", op_type="Relu", output_shapes=((1, 8, 8, 8),), macs=0, flops=512,
                        activation_bytes=2048),
        LayerComplexity(name="gemm", op_type="Gemm", output_shapes=((1, 10),), params=5130,
                        weight_bytes={"float32": 20520}, macs=5120, flops=10250, activation_bytes=40),
    )  # fmt: skip
    if unknown:
        layers += (LayerComplexity(name="odd", op_type=unknown[0], macs=None, flops=None),)
    return ModelComplexity(
        format="onnx", analyzer="onnx", layers=layers, params=5210, weight_bytes={"float32": 20840},
        macs=9728, flops=20490, peak_activation_bytes=4096, op_types=("Conv", "Gemm", "Relu"),
        dtypes=("float32",), unknown_ops=unknown, assumed_dims={"input:batch": 1},
    )  # fmt: skip


MEMORY = MemorySection(
    where="host", load_bytes=3 * 2**20, peak_inference_bytes=5 * 2**20, before_load_rss_bytes=400 * 2**20,
    after_load_rss_bytes=403 * 2**20, peak_rss_bytes=405 * 2**20, peak_source="VmHWM",
    peak_window="benchmark to the end of the benchmark", hwm_reset=True,
)  # fmt: skip


def _write(tmp_path: Path, name: str, **sections: Any) -> Path:
    doc = json.loads((FIXTURES / "onnxruntime-float.json").read_text(encoding="utf-8"))
    doc["name"] = name
    doc.update({key: value.to_json() for key, value in sections.items()})
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_single_report_shows_totals_top_layers_and_model_memory(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    section = ComplexitySection(True, "onnx", step="onnx-file", artifact="model.onnx", result=_complexity())
    path = _write(tmp_path, "cnn", complexity=section, memory=MEMORY)
    result = render_report([path], tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    tables = rt.parse_markdown_tables(markdown)
    totals = dict(tables[next(k for k in tables if k.endswith("-complexity"))][1])
    assert totals["parameters"] == "5,210" and totals["MACs"] == "9,728" and totals["FLOPs"] == "20,490"
    assert totals["peak activations"] == "4.0 KiB (4,096 bytes)"
    assert totals["weights"] == "20.4 KiB (20,840 bytes): float32 20.4 KiB"
    assert totals["lower bound"] == "no: every operator counted"
    assert totals["assumed dims"] == "input:batch=1"
    header, rows = tables[next(k for k in tables if k.endswith("-top-macs"))]
    assert header == ["layer", "operator", "output shape", "params", "MACs", "FLOPs", "activation bytes"]
    assert [r[0] for r in rows] == ["gemm", "conv", "relu"]
    assert rows[0] == ["gemm", "Gemm", "1x10", "5,130", "5,120", "10,250", "40"]
    _, rows = tables[next(k for k in tables if k.endswith("-top-activation_bytes"))]
    assert [r[0] for r in rows] == ["conv", "relu", "gemm"]
    memory = dict(tables[next(k for k in tables if k.endswith("-model-memory"))][1])
    assert memory["model memory: load"] == "3.0 MiB (3,145,728 bytes)"
    assert memory["model memory: inference peak"] == "5.0 MiB (5,242,880 bytes)"
    assert memory["process RSS before loading"] == "400.0 MiB (419,430,400 bytes)"
    header, _ = tables[next(k for k in tables if k.endswith("-resource-stats"))]
    assert "process RSS max (MiB)" in header and "RSS max (MiB)" not in header


def test_lower_bounds_unavailable_and_old_documents(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    unknown = ComplexitySection(True, "onnx", step="onnx-file", result=_complexity(("com.example.Swizzle",)))
    missing = ComplexitySection(False, "tflite", reason="no analyzer reads tflite artifacts")
    paths = [
        _write(tmp_path, "unknown", complexity=unknown, memory=MEMORY),
        _write(tmp_path, "missing", complexity=missing),
        _write(tmp_path, "old"),
    ]
    result = render_report(paths, tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    tables = rt.parse_markdown_tables(markdown)
    totals = dict(tables["unknown-complexity"][1])
    assert totals["MACs"] == "9,728 (lower bound)"
    assert totals["lower bound"] == "yes: not counted com.example.Swizzle"
    assert "No complexity analysis: no analyzer reads tflite artifacts." in markdown
    assert "The file records no complexity analysis." in markdown
    header, rows = tables["complexity"]
    assert header[0] == "run" and "model memory: load" in header
    assert [r[0] for r in rows] == ["unknown"]  # the others have neither figures
    assert rows[0][2] == "9,728 (lower bound)" and rows[0][5] == "3.0 MiB"
