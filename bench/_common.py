"""Helpers shared by the bench/*.py scripts (each script puts bench/ first on sys.path when run directly)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def have(*modules: str) -> bool:
    """True when every module is importable (checked without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in modules)


def run_pipeline(host: Any, config: dict[str, Any], output: Path) -> dict[str, Any]:
    """Plan and run a pipeline config through edgeai's local runner; return its measurement document."""
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.runner import LocalRunner

    return LocalRunner(plan_pipeline(parse_config(config), host), output, host=host).run()
