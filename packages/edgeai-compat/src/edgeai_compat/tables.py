"""Markdown and reStructuredText tables for the compatibility reports (grid, matrix, ONNX backend tests).

Cells may hold long error messages; both renderers keep a cell on one line (pipes and backquotes escaped),
and reStructuredText uses a ``list-table`` directive, which, unlike grid tables, needs no column alignment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def cell_text(value: Any) -> str:
    """A value as table text: ``-`` for None, floats in a short general format."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.3g}"
    return " ".join(str(value).split())


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""

    def escape(value: Any) -> str:
        return cell_text(value).replace("|", "\\|")

    lines = [
        "| " + " | ".join(escape(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def rst_table(header: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A reStructuredText ``list-table`` (renders in Sphinx and on GitHub)."""

    def escape(value: Any) -> str:
        text = cell_text(value)
        # inline markup characters would start emphasis or literals mid-cell
        for char in ("\\", "*", "`", "|", "_"):
            text = text.replace(char, "\\" + char)
        return text or "\\ "

    lines = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1", ""]
    for row in [list(header), *[list(r) for r in rows]]:
        lines.append(f"   * - {escape(row[0])}")
        lines += [f"     - {escape(c)}" for c in row[1:]]
    return "\n".join(lines) + "\n"


def rst_heading(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def finite(value: float | None) -> float | None:
    """``value`` when it is a finite float, else None (JSON documents are written with allow_nan=False)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
