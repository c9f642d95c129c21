"""Entry point discovery without importing :mod:`importlib.metadata`.

Importing ``importlib.metadata`` (with the email parser it pulls in) costs more than click and pluggy together,
and every ``edgeai`` command starts by discovering plugins. This module reads the same files directly:
``*.dist-info`` and ``*.egg-info`` folders on ``sys.path``, where the first distribution of a name wins, as in
``importlib.metadata.entry_points()``. Zipped eggs and other exotic importers fall back to importlib.metadata.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class EntryPoint:
    name: str
    value: str
    distribution: str | None
    version: str | None

    def load(self) -> Any:
        module_name, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module_name.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` pairs of one ``[group]`` of an entry_points.txt (extras like ``[x]`` dropped)."""
    pairs, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]") and "=" not in line:
            inside = line[1:-1].strip() == group
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            value = re.sub(r"\s*\[.*\]\s*$", "", value.strip())
            pairs.append((name.strip(), value))
    return pairs


def _metadata(folder: str) -> tuple[str | None, str | None]:
    """Name and Version from the METADATA (PKG-INFO) headers."""
    name = version = None
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, file), encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        break
                    key, _, value = line.partition(":")
                    if key == "Name" and name is None:
                        name = value.strip()
                    elif key == "Version" and version is None:
                        version = value.strip()
        except OSError:
            continue
        break
    return name, version


def _fallback(group: str, seen: set[str]) -> Iterator[EntryPoint]:
    from importlib import metadata

    for ep in metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else None
        if name is not None and _normalize(name) in seen:
            continue
        yield EntryPoint(ep.name, ep.value, name, dist.version if dist is not None else None)


def entry_points(group: str) -> list[EntryPoint]:
    """Every entry point of ``group`` from the distributions importable on ``sys.path``."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    exotic = False
    for base in sys.path:
        path = base or os.getcwd()
        if not os.path.isdir(path):
            exotic = exotic or os.path.isfile(path)  # a zip on sys.path
            continue
        try:
            names = sorted(os.listdir(path))
        except OSError:
            continue
        for entry in names:
            if not entry.endswith(_SUFFIXES):
                continue
            folder = os.path.join(path, entry)
            if not os.path.isdir(folder):
                exotic = True  # e.g. a zipped .egg-info file
                continue
            key = _normalize(entry.rsplit(".", 1)[0].split("-", 1)[0])
            if key in seen:
                continue
            seen.add(key)
            try:
                with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as handle:
                    pairs = _section(handle.read(), group)
            except OSError:
                continue
            if pairs:
                dist, version = _metadata(folder)
                found.extend(EntryPoint(n, v, dist, version) for n, v in pairs)
    if exotic:
        found.extend(_fallback(group, seen))
    return found
