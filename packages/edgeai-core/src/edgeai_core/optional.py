"""Optional dependencies: import one, or fail with the line that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from edgeai_core.errors import MissingDependencyError


def import_optional(module: str, component: str, install: str, *, missing: str | None = None) -> ModuleType:
    """``importlib.import_module(module)``, or :class:`MissingDependencyError` naming ``component``, what is
    missing (``missing``, default the module's name) and the ``pip install`` argument that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(component, missing or module, install) from None
