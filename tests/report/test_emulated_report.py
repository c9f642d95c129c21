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


def test_native_remote_latency_is_not_labelled(tmp_path: Path, rt: SimpleNamespace) -> None:
    from edgeai_report import render_report

    result = render_report([_emulated_copy(tmp_path, False)], tmp_path / "report", formats="md", jobs=1)
    markdown = result.files["md"].read_text(encoding="utf-8")
    assert EMULATED_TIME_LABEL not in markdown
    tables = rt.parse_markdown_tables(markdown)
    summary = tables[next(k for k in tables if k.endswith("-summary"))]
    assert rt.row_of(summary, "target")[1] == "tcp"
