"""Shared fixtures of the edgeai-report tests: the real results files, rendered reports, table parsers."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
#: the comparison the tests render: every fixture, in the demo's order, then the numpy runs
COMPARED = (
    "torch-eager",
    "torch-traced",
    "onnxruntime-float",
    "onnxruntime-int8",
    "blobs-mlp-int8",
    "blobs-mlp-int8-tcp",
    "blobs-mlp-int8-tcp-lost",
    "blobs-mlp-int8-killed",
    "blobs37-mlp-int8",
)

Table = tuple[list[str], list[list[str]]]


@pytest.fixture
def host(first_party_host: Any) -> Any:
    """A fresh plugin host with the core's built-ins and edgeai-report, registered in-process."""
    return first_party_host("report")


def fixture_path(name: str) -> Path:
    return FIXTURES / f"{name}.json"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads(fixture_path(name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def single_report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The single-run report of the 37-class run, all formats (rendered once per session)."""
    from edgeai_report import render_report

    out = tmp_path_factory.mktemp("single")
    return render_report([fixture_path("blobs37-mlp-int8")], out, jobs=1)


@pytest.fixture(scope="session")
def comparison_report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The comparison of every fixture, all formats, drawn by this process and one worker process."""
    from edgeai_report import render_report

    out = tmp_path_factory.mktemp("comparison")
    return render_report([fixture_path(n) for n in COMPARED], out, jobs=2)


# -- parsing the reports back ------------------------------------------------------------------------------

_MD_CELL = re.compile(r"((?:\\.|[^|\\])*)\|")


def _md_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).strip()


def _md_row(line: str) -> list[str]:
    body = line.strip()[1:]  # after the leading "|"
    return [_md_unescape(cell) for cell in _MD_CELL.findall(body)]


def parse_markdown_tables(text: str) -> dict[str, Table]:
    """Tables announced by ``<!-- table: KEY -->``, as (header, rows) with unescaped cells."""
    tables: dict[str, Table] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.fullmatch(r"<!-- table: (\S+) -->", line.strip())
        if not match:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("|"):
            j += 1
        block = []
        while j < len(lines) and lines[j].startswith("|"):
            block.append(lines[j])
            j += 1
        header, rows = _md_row(block[0]), [_md_row(b) for b in block[2:]]
        tables[match.group(1)] = (header, rows)
    return tables


class _HtmlTables(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, Table] = {}
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self._key: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._header: list[str] = []
        self._rows: list[list[str]] = []
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "table":
            self._key, self._header, self._rows = attributes.get("id", f"table-{len(self.tables)}"), [], []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attributes)
        for name in ("href", "src"):
            if name in attributes and tag != "img":
                self.links.append(attributes[name])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._in_head:
                self._header = self._row
            else:
                self._rows.append(self._row)
            self._row = None
        elif tag == "table" and self._key is not None:
            self.tables[self._key] = (self._header, self._rows)
            self._key = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_html(text: str) -> _HtmlTables:
    parser = _HtmlTables()
    parser.feed(text)
    parser.close()
    return parser


def column(table: Table, name: str) -> int:
    """Index of the column whose header is ``name``."""
    return table[0].index(name)


def row_of(table: Table, *first: str) -> list[str]:
    """The row whose first cells are ``first``."""
    for row in table[1]:
        if tuple(row[: len(first)]) == first:
            return row
    raise AssertionError(f"no row starting {first} in {[r[:2] for r in table[1]]}")


def unit_scale(header: str) -> float:
    """Nanoseconds per unit named in a header such as ``median (us)``."""
    unit = re.search(r"\((ns|us|ms|s)\)", header)
    assert unit, header
    return {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[unit.group(1)]


def decimals(cell: str) -> int:
    return len(cell.split(".")[1]) if "." in cell else 0


def assert_shown(cell: str, value: float, scale: float = 1.0) -> None:
    """``cell`` shows ``value / scale`` rounded to the cell's decimals."""
    shown = float(cell)
    tolerance = 0.5 * 10 ** -decimals(cell) + 1e-12
    assert abs(shown - value / scale) <= tolerance, f"{cell} != {value / scale}"


#: what the ``rt`` fixture carries
TOOLS = (
    "COMPARED", "FIXTURES", "fixture_path", "load_fixture", "parse_markdown_tables", "parse_html", "column",
    "row_of", "unit_scale", "assert_shown",
)  # fmt: skip


@pytest.fixture(scope="session")
def rt() -> SimpleNamespace:
    """Report-test tools (tests are imported by path, so helpers travel as a fixture)."""
    return SimpleNamespace(**{name: globals()[name] for name in TOOLS})
