"""The ``instructions`` section (guest instructions per inference, edgeai-emulator's ``edgeai target count``)
beside latency in the report; documents without it show nothing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

SECTION = {
    "per_inference": 261874.0, "spread": 0.00039, "repeats": 3,
    "runs": [{"count_low": 10, "total_low": 737624205, "count_high": 110, "total_high": 763817322,
              "per_inference": 261931.17}] * 3,
    "method": "difference of two run lengths", "isa": "aarch64", "emulator": "qemu-user 7.2.22",
    "runtime": "onnxruntime", "batch_size": 1, "artifact": "model.onnx",
}  # fmt: skip


def test_report_shows_instructions_beside_latency(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    fixture = Path(__file__).parent / "fixtures" / "blobs-mlp-int8-tcp.json"
    doc = json.loads(fixture.read_text(encoding="utf-8"))
    doc["instructions"] = SECTION
    path = tmp_path / "counted.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = render_report([path], tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    tables = rt.parse_markdown_tables(markdown)
    summary = tables[next(k for k in tables if k.endswith("-summary"))]
    assert rt.row_of(summary, "instructions per inference")[1] == (
        "261,874 aarch64 instructions (spread 0.04%, 3 repeats)"
    )
    assert (
        "Instructions per inference: 261,874 aarch64 instructions (spread 0.04%, 3 repeats) on qemu-user "
        "7.2.22, runtime onnxruntime, batch 1: the difference of two run lengths (runs of 10 and 110 "
        "inferences), a count of executed instructions, not time." in markdown.replace("\\_", "_")
    )
    plain = render_report([fixture], tmp_path / "plain", formats="md", jobs=1)
    assert "instructions per inference" not in plain.files["md"].read_text(encoding="utf-8").lower()
