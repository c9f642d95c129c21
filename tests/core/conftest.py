"""Shared fixtures of the core tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

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
