"""The fast entry point scanner must agree with importlib.metadata."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from edgeai_core._discovery import _section, entry_points


def _reference(group: str) -> set[tuple[str, str, str | None, str | None]]:
    out = set()
    for ep in metadata.entry_points(group=group):
        dist = ep.dist
        out.add((ep.name, ep.value, dist.metadata["Name"] if dist else None, dist.version if dist else None))
    return out


@pytest.mark.parametrize("group", ["edgeai", "console_scripts", "pytest11"])
def test_scanner_matches_importlib_metadata(group: str) -> None:
    ours = {(e.name, e.value, e.distribution, e.version) for e in entry_points(group)}
    assert ours == _reference(group)


def test_edgeai_core_is_found() -> None:
    [core] = [e for e in entry_points("edgeai") if e.name == "core"]
    assert (core.value, core.distribution, core.version) == ("edgeai_core.plugin", "edgeai-core", "0.1.0")
    assert core.load().__name__ == "edgeai_core.plugin"


def test_section_parsing() -> None:
    text = "[console_scripts]\na = b:c\n\n[edgeai]\n# comment\n x = pkg.plugin \ny=pkg.mod:attr [extra]\n[other]\nz = q"
    assert _section(text, "edgeai") == [("x", "pkg.plugin"), ("y", "pkg.mod:attr")]
    assert _section(text, "missing") == []


def test_first_distribution_on_the_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder, version in (("first", "1.0"), ("second", "2.0")):
        info = tmp_path / folder / f"shadowed_dist-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: shadowed-dist\nVersion: {version}\n\nbody\n"
        )
        (info / "entry_points.txt").write_text(f"[edgeai]\nshadowed = mod_{folder}\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "first"), str(tmp_path / "second"), *sys.path])
    found = [e for e in entry_points("edgeai") if e.name == "shadowed"]
    assert [(e.value, e.version) for e in found] == [("mod_first", "1.0")]
    assert {(e.name, e.value, e.distribution, e.version) for e in entry_points("edgeai")} == _reference(
        "edgeai"
    )
