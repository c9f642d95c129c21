"""An in-process plugin host for tests: register plugin objects on a fresh :class:`PluginHost`, unregister after.

``plugin_host(...)`` is a context manager usable anywhere; ``edgeai_plugin_host`` is the same as a pytest fixture
(import it into your ``conftest.py``: ``from edgeai_core.testing import edgeai_plugin_host``)::

    def test_my_runtime_is_listed(edgeai_plugin_host):
        host = edgeai_plugin_host("mypkg.plugin")
        assert host.get("runtime", "my-runtime").provider == "mypkg.plugin"
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest

from edgeai_core.plugins import CORE_PLUGIN, PluginHost

CORE_MODULE = "edgeai_core.plugin"


def resolve_plugin(plugin: Any) -> tuple[object, str]:
    """``(plugin object, name to register it under)`` for a module, an import path or any object with hooks."""
    if isinstance(plugin, str):
        plugin = importlib.import_module(plugin)
    if isinstance(plugin, ModuleType):
        name = CORE_PLUGIN if plugin.__name__ == CORE_MODULE else plugin.__name__
        return plugin, name
    return plugin, getattr(plugin, "__name__", None) or type(plugin).__name__


@contextmanager
def plugin_host(*plugins: Any, core: bool = True, strict: bool = True) -> Iterator[PluginHost]:
    """A fresh host (no entry-point discovery, no ``EDGEAI_*`` switches) holding ``plugins``.

    Each plugin is a module, an import path (``"mypkg.plugin"``) or an object with ``@hookimpl`` methods. The
    core's built-ins are registered first unless ``core`` is false. ``strict`` (the default) makes a plugin whose
    hooks fail raise :class:`~edgeai_core.errors.PluginError` instead of being skipped. Every plugin is
    unregistered when the block ends.
    """
    host = PluginHost(discover=False, strict=strict, env={})
    registered: list[str] = []
    try:
        entries = [resolve_plugin(p) for p in plugins]
        if core and all(name != CORE_PLUGIN for _, name in entries):
            entries.insert(0, resolve_plugin(CORE_MODULE))
        for obj, name in entries:
            info = host.register(obj, name=name, distribution=_distribution(obj, name))
            registered.append(info.name)
        yield host
    finally:
        for name in reversed(registered):
            if name in host.plugins:
                host.unregister(name)


def _distribution(plugin: object, name: str) -> str | None:
    """The installed distribution that ships a plugin module, for records' ``provider``; else None."""
    if name == CORE_PLUGIN:
        return "edgeai-core"
    module = getattr(plugin, "__name__", None)
    if not isinstance(plugin, ModuleType) or not module:
        return None
    names = _packages_distributions().get(module.split(".")[0]) or []
    return names[0] if names else None


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    from importlib import metadata

    try:
        return dict(metadata.packages_distributions())
    except Exception:  # a broken metadata folder on sys.path must not fail a test's setup
        return {}


@pytest.fixture
def edgeai_plugin_host() -> Iterator[Callable[..., PluginHost]]:
    """``edgeai_plugin_host(*plugins, core=True, strict=True)``: a fresh in-process host (see :func:`plugin_host`);
    its plugins are unregistered after the test."""
    stack: list[Any] = []

    def make(*plugins: Any, core: bool = True, strict: bool = True) -> PluginHost:
        manager = plugin_host(*plugins, core=core, strict=strict)
        host = manager.__enter__()
        stack.append(manager)
        return host

    yield make
    while stack:
        stack.pop().__exit__(None, None, None)
