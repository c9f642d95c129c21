"""docs/plugins.md: its hook reference is generated from the hookspec docstrings and must be current."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeai_core.testing import docs

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def test_the_hook_reference_is_current() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert docs.render(text) == text, (
        "docs/plugins.md is out of date with edgeai_core/hookspecs.py: run `python -m edgeai_core.testing.docs`"
    )


def test_every_hook_has_a_section_with_its_signature() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    specs = docs.hookspecs()
    assert {f.__name__ for f in specs} >= {"edgeai_register_datasets", "edgeai_register_runtimes"}
    for func in specs:
        assert f"### `{func.__name__}`\n\n```python\n{func.__name__}(" in text
        assert f"- [`{func.__name__}`](#{func.__name__})" in text


def test_docstrings_become_markdown() -> None:
    doc = """Register things.

    Returns :class:`~edgeai_core.records.RuntimeRecord` items; ``factory`` names a class.

    Example::

        @hookimpl
        def edgeai_register_runtimes():
            return []
    """
    assert docs.docstring_markdown(doc) == (
        "Register things.\n\n"
        "Returns `RuntimeRecord` items; `factory` names a class.\n\n"
        "Example:\n\n"
        "```python\n@hookimpl\ndef edgeai_register_runtimes():\n    return []\n```\n"
    )


def test_check_reports_a_stale_file_and_writing_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "plugins.md"
    stale.write_text(f"# Guide\n\n{docs.BEGIN}\nold text\n{docs.END}\n\nafter\n", encoding="utf-8")
    assert docs.main(["--check", str(stale)]) == 1
    assert "is out of date" in capsys.readouterr().err
    assert docs.main([str(stale)]) == 0
    assert docs.main(["--check", str(stale)]) == 0
    text = stale.read_text(encoding="utf-8")
    assert "old text" not in text
    assert text.startswith(f"# Guide\n\n{docs.BEGIN}\n{docs.FMT_OFF}\n\n")
    assert text.endswith(f"{docs.FMT_ON}\n{docs.END}\n\nafter\n")


def test_missing_markers_are_named() -> None:
    with pytest.raises(ValueError, match="markers"):
        docs.render("# no markers here\n")
