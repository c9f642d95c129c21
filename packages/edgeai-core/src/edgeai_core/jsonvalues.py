"""Values made JSON-ready: parameters, metadata and measurements hold paths, tuples and numpy scalars."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` with mappings as dicts (keys as strings), tuples as lists, paths as strings, numpy scalars as
    Python numbers; any other object that JSON cannot hold becomes its ``str``."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():  # numpy scalars and 0-d arrays
        return item()
    return str(value)


def attributes(source: object, names: Iterable[str]) -> dict[str, Any]:
    """``{name: source.name}`` for each of ``names``, in that order (a record's fields copied by name)."""
    return {name: getattr(source, name) for name in names}
