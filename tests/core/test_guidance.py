"""Guidance where numbers surprise: slow int8 and untuned builds are named, with what to try."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeai_core.guidance import slow_build_notes


def _doc(
    runtime: str, median: float, precision: str = "float32", steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    fidelity_steps = [{"step": s["name"], "kind": s["kind"], "precision": precision} for s in steps or []]
    return {
        "status": "complete",
        "plan": {
            "dataset": {"name": "digits", "params": {"image_size": 8}},
            "model": {"name": "digits-cnn"},
            "runtime": {"name": runtime},
        },
        "steps": [{"name": "digits-cnn", "kind": "model", "output_format": "torch"}, *(steps or [])],
        "latency": {"stats": {"median": median}},
        "fidelity": {"enabled": True, "steps": fidelity_steps},
    }


QUANTIZE = {"name": "onnx-quantize", "kind": "compiler", "input_format": "onnx", "output_format": "onnx"}
TVM = {
    "name": "tvm",
    "kind": "compiler",
    "input_format": "onnx",
    "output_format": "tvm",
    "metadata": {"tuning": None, "opt_level": 3},
}


def test_a_slow_int8_and_an_untuned_build_are_named_with_what_to_try() -> None:
    docs = [
        ("ort-float", _doc("onnxruntime", 10_000)),
        ("torch-float", _doc("torch", 40_000)),
        ("ort-int8", _doc("onnxruntime", 31_000, "int8", [QUANTIZE])),
        ("tvm-untuned", _doc("tvm", 25_000, "float32", [TVM])),
        ("tvm-fast", _doc("tvm", 12_000, "float32", [{**TVM, "metadata": {"tuning": {"tasks": 4}}}])),
    ]
    assert slow_build_notes(docs) == [
        "ort-int8 (int8, in onnxruntime) is 3.1x slower than ort-float (float32, in onnxruntime), the fastest "
        "float run of digits-cnn: try other onnx-quantize settings (per-channel, static vs dynamic: "
        "`edgeai describe onnx-quantize`); onnxruntime may lack fast int8 kernels for this CPU; "
        "or try a different runtime",
        "tvm-untuned (untuned, in tvm) is 2.5x slower than ort-float (float32, in onnxruntime), the fastest "
        "float run of digits-cnn: tune the tvm build (its tuning parameters: `edgeai describe tvm`); "
        "or run it in onnxruntime",
    ]


def test_no_note_below_the_factor_or_across_models() -> None:
    int8 = _doc("onnxruntime", 15_000, "int8", [QUANTIZE])
    assert slow_build_notes([("f", _doc("onnxruntime", 10_000)), ("q", int8)]) == []
    other = _doc("onnxruntime", 1_000)
    other["plan"]["model"] = {"name": "another-net"}
    assert slow_build_notes([("f", other), ("q", _doc("onnxruntime", 50_000, "int8", [QUANTIZE]))]) == []
    failed = {**_doc("onnxruntime", 10_000), "status": "failed"}
    assert slow_build_notes([("f", failed), ("q", _doc("onnxruntime", 50_000, "int8", [QUANTIZE]))]) == []


def test_precision_is_read_from_step_metadata_without_a_fidelity_section() -> None:
    old = _doc("onnxruntime", 50_000, steps=[{**QUANTIZE, "metadata": {"weight_type": "QInt8"}}])
    del old["fidelity"]
    notes = slow_build_notes([("f", _doc("onnxruntime", 10_000)), ("q", old)])
    assert len(notes) == 1 and notes[0].startswith("q (int8, in onnxruntime) is 5.0x slower than f")


def test_the_demo_summary_reads_the_variants_results(tmp_path: Path) -> None:
    from edgeai_core.cli.demo import _guidance

    rows = []
    for name, doc in (
        ("onnxruntime-float", _doc("onnxruntime", 10_000)),
        ("onnxruntime-int8", _doc("onnxruntime", 45_000, "int8", [QUANTIZE])),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc), encoding="utf-8")
        rows.append({"variant": name, "results": str(tmp_path / name / "results.json")})
    rows.append({"variant": "failed-early", "results": None})
    notes = _guidance(rows)
    assert len(notes) == 1 and notes[0].startswith(
        "onnxruntime-int8 (int8, in onnxruntime) is 4.5x slower than onnxruntime-float"
    )


def test_a_run_over_the_fidelity_tolerance_is_not_a_baseline() -> None:
    """A pruned and fine-tuned model is another model: it never sets the 'fastest float run' others are
    compared with."""
    prune = {"name": "torch-prune", "kind": "compiler", "input_format": "torch", "output_format": "torch"}
    pruned = _doc("onnxruntime", 2_000, "float32", [prune])
    pruned["fidelity"]["steps"][0]["status"] = "over_tolerance"
    docs = [
        ("pruned", pruned),
        ("float", _doc("onnxruntime", 10_000)),
        ("tvm", _doc("tvm", 25_000, steps=[TVM])),
    ]
    [note] = slow_build_notes(docs)
    assert note.startswith("tvm (untuned, in tvm) is 2.5x slower than float (float32, in onnxruntime)")
