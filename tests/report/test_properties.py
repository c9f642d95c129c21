"""Properties of the pieces every table and plot goes through: escaping, units, the violin density."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeai_report.document import Document, Table
from edgeai_report.plots import _density, _envelope
from edgeai_report.units import TIME_UNITS, time_unit
from edgeai_report.writers import write_html, write_markdown

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30).map(
    str.strip
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=5))
def test_any_cell_text_survives_markdown_and_html(
    rows: list[list[str]], rt: SimpleNamespace, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    folder: Path = tmp_path_factory.mktemp("cells")
    doc = Document("t", "s")
    doc.add(Table("cells", "caption", ["a|b", "c\\d", "`e`"], rows))
    markdown = rt.parse_markdown_tables(write_markdown(doc, folder / "r.md").read_text(encoding="utf-8"))
    page = rt.parse_html(write_html(doc, folder / "r.html").read_text(encoding="utf-8"))
    expected = (["a|b", "c\\d", "`e`"], rows)
    assert markdown["cells"] == expected
    assert page.tables["cells"] == expected


@given(st.floats(min_value=1.0, max_value=1e11, allow_nan=False))
def test_time_unit_never_shows_a_small_value_as_zero(value: float) -> None:
    unit = time_unit([value])
    assert unit in TIME_UNITS
    shown = float(unit.fmt(value))
    assert shown >= 1.0 or unit.label == "ns"
    assert abs(shown * unit.scale - value) <= 0.5 * 10**-unit.decimals * unit.scale


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-3, max_value=6, allow_nan=False), min_size=2, max_size=400))
def test_violin_density_is_finite_and_covers_the_data(values: list[float]) -> None:
    data = np.asarray(values)
    grid, density = _density(data)
    assert grid.shape == density.shape and np.all(np.isfinite(density)) and np.all(density >= 0)
    assert grid[0] <= data.min() + 1e-9 and grid[-1] >= data.max() - 1e-9
    assert np.all(np.diff(grid) > 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=5000))
def test_envelope_keeps_every_extreme(samples: list[int]) -> None:
    values = np.asarray(samples, dtype=float)
    x, low, mid, high = _envelope(values)
    assert len(x) == len(low) == len(mid) == len(high) <= max(len(values), 1200)
    assert math.isclose(low.min(), values.min()) and math.isclose(high.max(), values.max())
    assert np.all(low <= mid) and np.all(mid <= high)
