"""The report's "Target fit" section, from the ``target_profile`` and ``fit`` sections of results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("edgeai_report", exc_type=ImportError)

from edgeai_report.document import Bullets, Heading, Paragraph, Table, plain
from edgeai_report.fit import fit_blocks
from edgeai_report.load import Run


def run_of(doc: dict[str, Any]) -> Run:
    return Run(Path("results.json"), "r", doc, None, None, None, None, slug="r")


FIT = {
    "target": "cortex-m4",
    "fits": False,
    "verdict": "does not fit: needs 3.4 MiB RAM, has 256 KiB (-3.2 MiB)",
    "ram": {
        "needed_bytes": 3_565_200,
        "available_bytes": 262_144,
        "margin_bytes": -3_303_056,
        "margin_percent": -1260.0,
    },
    "storage": {
        "needed_bytes": 500_000,
        "available_bytes": 1_048_576,
        "margin_bytes": 548_576,
        "margin_percent": 52.3,
    },
    "notes": ["weights stay in flash on this target (weights_in = flash): RAM holds the activations"],
    "stage": "planning",
}


def test_the_section_shows_the_profile_and_the_fit_row() -> None:
    doc = {
        "target_profile": {
            "name": "cortex-m4",
            "origin": "named",
            "profile": {"summary": "Cortex-M4 class MCU"},
        }
    }
    blocks = fit_blocks(run_of({**doc, "fit": FIT}), 2)
    assert isinstance(blocks[0], Heading) and blocks[0].text == "Target fit"
    assert isinstance(blocks[1], Paragraph)
    assert plain(blocks[1].inline) == (
        "The numbers belong to target profile cortex-m4 (named by the config): Cortex-M4 class MCU."
    )
    table = blocks[2]
    assert isinstance(table, Table)
    assert table.rows == [
        [
            "cortex-m4",
            "does not fit: needs 3.4 MiB RAM, has 256 KiB (-3.2 MiB)",
            "3.4 MiB",
            "256.0 KiB",
            "-3.2 MiB (-1260.0%)",
            "488.3 KiB",
            "1.0 MiB",
            "model file, in planning",
        ]
    ]
    assert isinstance(blocks[3], Bullets)


def test_older_documents_get_no_section_and_the_host_reads_as_measured() -> None:
    assert fit_blocks(run_of({}), 2) == []
    blocks = fit_blocks(
        run_of({"target_profile": {"name": "host", "origin": "measured", "profile": None}}), 2
    )
    assert [type(b) for b in blocks] == [Heading, Paragraph]
    assert plain(blocks[1].inline) == "The numbers belong to target profile host (measured on this machine)."
