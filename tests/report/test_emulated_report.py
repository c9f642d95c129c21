"""A run on an emulated target (edgeai-emulator): the report labels its latency as emulated time."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from edgeai_core.api import EMULATED_TIME_LABEL


def _emulated_copy(tmp_path: Path, emulated: bool) -> Path:
    fixture = Path(__file__).parent / "fixtures" / "blobs-mlp-int8-tcp.json"
    doc = json.loads(fixture.read_text(encoding="utf-8"))
    doc["provenance"]["target"].update({"isa": "aarch64", "emulated": emulated})
    doc["fidelity"] = {
        "enabled": True,
        "strict": False,
        "policy": {"rtol": 1e-3, "atol": 1e-4, "probability_atol": 1e-3, "min_cosine": 0.99, "min_top1": 0.9},
        "reference": {"step": "mlp", "kind": "model", "format": "npz-mlp", "runtime": "numpy"},
        "inputs": {"source": "synthetic", "samples": 32},
        "steps": [],
        "cross_architecture": {"host_isa": "x86_64", "target_isa": "aarch64", "emulated": emulated,
                               "step": "numpy", "status": "ok", "top1_agreement": 1.0, "max_abs_diff": 7.6e-06},
    }  # fmt: skip
    path = tmp_path / "emulated.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_emulated_latency_is_labelled(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    result = render_report([_emulated_copy(tmp_path, True)], tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    tables = rt.parse_markdown_tables(markdown)
    summary = tables[next(k for k in tables if k.endswith("-summary"))]
    assert rt.row_of(summary, "target")[1] == "tcp (emulated aarch64)"
    assert rt.row_of(summary, "median latency")[1].endswith(f", {EMULATED_TIME_LABEL}")
    stats = tables[next(k for k in tables if k.endswith("-latency-stats"))]
    assert [row[0] for row in stats[1]] == [
        f"host round trip, {EMULATED_TIME_LABEL}",
        f"target inference, {EMULATED_TIME_LABEL}",
    ]
    assert f"Latency is {EMULATED_TIME_LABEL}." in markdown
    assert (
        "Cross-architecture: the final runtime on aarch64 (emulated) against the reference on the host "
        "(x86_64): top-1 agreement 1.000, max abs diff 7.6e-06." in markdown.replace("\\_", "_")
    )


def test_native_remote_latency_is_not_labelled(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    result = render_report([_emulated_copy(tmp_path, False)], tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    assert EMULATED_TIME_LABEL not in markdown
    tables = rt.parse_markdown_tables(markdown)
    summary = tables[next(k for k in tables if k.endswith("-summary"))]
    assert rt.row_of(summary, "target")[1] == "tcp"
