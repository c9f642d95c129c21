"""End-to-end tests across the real plugin packages, through the real `edgeai` console script."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def error_lines(stderr: str) -> list[str]:
    """The `error:` lines of a CLI run (progress lines start with '-' or spaces)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="session")
def edgeai(edgeai_console):  # type: ignore[no-untyped-def]
    """Run the real `edgeai` console script: ``edgeai("run", "cfg.toml", "-o", "out")`` (timeout 600 s)."""
    return functools.partial(edgeai_console, timeout=600)


@pytest.fixture(scope="session")
def errors():  # type: ignore[no-untyped-def]
    return error_lines
