"""Lazy re-exports: a package names its public objects and imports each one's module on first use.

:mod:`edgeai_core.api` and :mod:`edgeai_core.testing` resolve their names this way, so importing either stays
cheap (no numpy, no pytest until a name that needs it is used).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


class LazyExports:
    """The module-level ``__getattr__`` of package ``module``: ``exports`` maps each public name to the module,
    relative to ``module``'s package, that defines it. A resolved name is stored in ``namespace`` (the
    package's ``globals()``), so it is imported once."""

    def __init__(self, module: str, exports: Mapping[str, str], namespace: dict[str, Any]) -> None:
        self.module, self.exports, self.namespace = module, exports, namespace

    def resolve(self, name: str) -> Any:
        defined_in = self.exports.get(name)
        if defined_in is None:
            raise AttributeError(f"module {self.module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{defined_in}", self.namespace["__package__"]), name)
        self.namespace[name] = value  # resolve once
        return value
