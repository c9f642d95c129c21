"""edgeai_core.api's literal ``__all__`` (what type checkers read) lists exactly the names it resolves."""

from __future__ import annotations

import edgeai_core.api as api


def test_all_is_the_export_table() -> None:
    assert set(api.__all__) == set(api._EXPORTS)
    assert len(set(api.__all__)) == len(api.__all__)
