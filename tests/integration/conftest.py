"""End-to-end tests across the real plugin packages, through the real `edgeai` console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def edgeai_script() -> Path:
    script = Path(sys.executable).parent / "edgeai"
    if not script.exists():
        pytest.skip("the edgeai console script is not installed next to this interpreter")
    return script


def run_edgeai(
    *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [str(edgeai_script()), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    """The `error:` lines of a CLI run (progress lines start with '-' or spaces)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="session")
def edgeai():  # type: ignore[no-untyped-def]
    """Run the real `edgeai` console script: ``edgeai("run", "cfg.toml", "-o", "out")``."""
    return run_edgeai


@pytest.fixture(scope="session")
def errors():  # type: ignore[no-untyped-def]
    return error_lines
