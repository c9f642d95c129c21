"""What a framework's grid suite (``edgeai grid``) does the same way whatever the framework.

A suite lists its models from a table of specs, feeds each one seeded inputs, reports the versions of the
packages that took part and imports ONNX back through an optional package; these helpers do that once. Pure
Python and numpy; the suite interface itself (``GridSuite``, ``GridModel``, ``ImportUnsupported``) comes from
:mod:`edgeai_core.api`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from edgeai_core.api import GridModel, ImportUnsupported


class ModelSpec(Protocol):
    """What :func:`grid_models` reads of a suite's spec of one model."""

    @property
    def summary(self) -> str: ...

    @property
    def category(self) -> str: ...


def grid_models(specs: Mapping[str, ModelSpec]) -> list[GridModel]:
    """The suite's rows, in the table's order: name, summary and category of each spec."""
    return [GridModel(name, spec.summary, spec.category) for name, spec in specs.items()]


def seeded_input(shape: Sequence[int], dtype: str, seed: int, high: int = 0) -> np.ndarray:
    """The input a grid model runs on: standard normal floats, or integers in [0, high) for integer dtypes."""
    rng = np.random.default_rng(seed)
    if dtype.startswith("int"):
        return rng.integers(0, high, size=tuple(shape)).astype(dtype)
    return rng.standard_normal(tuple(shape)).astype(dtype)


def module_versions(modules: Iterable[str]) -> dict[str, str]:
    """``__version__`` of each of ``modules`` that is installed and imports (the others are left out)."""
    found = {}
    for module in modules:
        if importlib.util.find_spec(module) is not None:
            with contextlib.suppress(Exception):
                found[module] = str(importlib.import_module(module).__version__)
    return found


def import_for_onnx(module: str, missing: str) -> Any:
    """Import the package that reads ONNX back into the framework, or :class:`ImportUnsupported`.

    ``missing`` is the message when the package is not installed; one that fails to import gives
    "MODULE does not import here: ERROR".
    """
    if importlib.util.find_spec(module) is None:
        raise ImportUnsupported(missing)
    try:
        imported: ModuleType = importlib.import_module(module)
    except Exception as exc:  # a dependency of the package does not import with this framework build
        raise ImportUnsupported(f"{module} does not import here: {exc}") from None
    return imported
