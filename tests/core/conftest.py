"""Shared fixtures of the core tests."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SUPPORT = Path(__file__).parent / "support"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def test_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The module ``edgeai_test_plugin`` (tests/core/support), importable by its factories."""
    monkeypatch.syspath_prepend(str(SUPPORT))
    import edgeai_test_plugin

    yield edgeai_test_plugin
    sys.modules.pop("edgeai_test_plugin", None)


@pytest.fixture
def core_host():  # type: ignore[no-untyped-def]
    """A fresh plugin host holding only the core's built-ins (registered in-process)."""
    import edgeai_core.plugin
    from edgeai_core.plugins import PluginHost

    host = PluginHost(discover=False, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    return host


@pytest.fixture
def support_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """``support_plugin("edgeai_fidelity_plugin")``: that module of tests/core/support, imported for this test
    (and forgotten after it)."""
    monkeypatch.syspath_prepend(str(SUPPORT))
    imported: list[str] = []

    def load(name: str) -> Any:
        imported.append(name)
        return importlib.import_module(name)

    yield load
    for name in imported:
        sys.modules.pop(name, None)
