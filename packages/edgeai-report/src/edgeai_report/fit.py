"""The report's "Target fit" section: which target profile a run's numbers belong to and, when the config named
one, whether the model fits it (the ``target_profile`` and ``fit`` sections of results.json)."""

from __future__ import annotations

from typing import Any

from edgeai_report.document import Bullets, Heading, Paragraph, Table, text
from edgeai_report.load import Run
from edgeai_report.units import human_size

FIT_HEADER = [
    "target",
    "verdict",
    "RAM needed",
    "RAM",
    "RAM margin",
    "storage needed",
    "storage",
    "checked on",
]


def _fits(run: Run) -> list[dict[str, Any]]:
    fit = run.doc.get("fit")
    entries = fit if isinstance(fit, list) else [fit]
    return [e for e in entries if isinstance(e, dict)]


def _margin(memory: dict[str, Any] | None) -> str:
    if not memory:
        return "-"
    margin = memory.get("margin_bytes")
    sign = "-" if isinstance(margin, (int, float)) and margin < 0 else ""
    size = human_size(abs(margin)) if isinstance(margin, (int, float)) else "-"
    return f"{sign}{size} ({memory.get('margin_percent', 0):.1f}%)"


def fit_row(entry: dict[str, Any]) -> list[str]:
    ram, storage = entry.get("ram") or {}, entry.get("storage") or {}
    stage = {"planning": "model file, in planning", "artifact": "final artifact"}.get(
        str(entry.get("stage")), "-"
    )
    return [
        str(entry.get("target", "-")),
        str(entry.get("verdict", "-")),
        human_size(ram.get("needed_bytes")),
        human_size(ram.get("available_bytes")),
        _margin(ram),
        human_size(storage.get("needed_bytes")),
        human_size(storage.get("available_bytes")),
        stage,
    ]


def fit_blocks(run: Run, level: int) -> list[Any]:
    """The section; nothing for documents that record neither part (written before target profiles)."""
    profile, fits = run.doc.get("target_profile"), _fits(run)
    if not isinstance(profile, dict) and not fits:
        return []
    blocks: list[Any] = [Heading(level, "Target fit", f"{run.slug}-fit")]
    if isinstance(profile, dict):
        details = profile.get("profile") or {}
        if profile.get("name") is None:
            line = "The numbers belong to a remote target that no target profile describes."
        else:
            origin = (
                "measured on this machine" if profile.get("origin") == "measured" else "named by the config"
            )
            line = f"The numbers belong to target profile {profile['name']} ({origin})"
            line += f": {details['summary']}." if details.get("summary") else "."
        blocks.append(Paragraph(text(line)))
    if fits:
        blocks.append(
            Table(
                f"{run.slug}-fit",
                "The model against the config's target profile (memory, operators, element types)",
                FIT_HEADER,
                [fit_row(e) for e in fits],
                [False, False, True, True, True, True, True, False],
            )
        )
        notes = [n for e in fits for n in (e.get("notes") or []) if isinstance(n, str)]
        if notes:
            blocks.append(Bullets([text(n) for n in notes]))
    return blocks


__all__ = ["FIT_HEADER", "fit_blocks", "fit_row"]
