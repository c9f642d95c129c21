"""A small format-neutral document model: the report is built once and written as HTML, Markdown and RST.

Building the content once keeps the three formats in step: a number in the Markdown table is, by construction,
the number in the HTML and RST tables. Text is kept as inline runs (plain, code, bold) so each writer escapes
and marks it up its own way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from edgeai_report.plots import PlotFile

#: inline text: (style, text) runs, style one of "text", "code", "strong"
Inline = list[tuple[str, str]]


def text(value: str) -> Inline:
    return [("text", value)]


def code(value: str) -> Inline:
    return [("code", value)]


def strong(value: str) -> Inline:
    return [("strong", value)]


def plain(inline: Inline) -> str:
    return "".join(part for _, part in inline)


@dataclass
class Heading:
    level: int
    text: str
    anchor: str
    #: HTML only: "closed" folds the section under this heading (a <details> element) until it is opened;
    #: every level-2 section folds too, open at first
    collapsible: Literal["", "open", "closed"] = ""


@dataclass
class Paragraph:
    inline: Inline


@dataclass
class Callout:
    """A boxed message: ``error`` for a failed run, ``warning`` for partial data, ``info`` for notes."""

    level: Literal["error", "warning", "info"]
    title: str
    inline: Inline


@dataclass
class Table:
    """A table with a stable ``key`` (the HTML id) whose cells are already formatted strings."""

    key: str
    caption: str
    header: list[str]
    rows: list[list[str]]
    #: columns holding numbers (right-aligned)
    numeric: list[bool] = field(default_factory=list)


@dataclass
class Image:
    plot: PlotFile


@dataclass
class Code:
    text: str
    language: str = "text"


@dataclass
class Bullets:
    items: list[Inline]


@dataclass
class Drawing:
    """An SVG the report draws itself (example images with boxes or masks, edgeai_report.vision): inline in
    HTML; Markdown and RST refer to the file ``name`` that :func:`edgeai_report.vision.write_drawings` saves
    next to the plots (``path``)."""

    key: str
    svg: str
    name: str
    caption: str
    alt: str
    path: Path | None = None


Block = Heading | Paragraph | Callout | Table | Image | Code | Bullets | Drawing


@dataclass
class Document:
    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def tables(self) -> dict[str, Table]:
        return {b.key: b for b in self.blocks if isinstance(b, Table)}

    def images(self) -> list[PlotFile]:
        return [b.plot for b in self.blocks if isinstance(b, Image)]
