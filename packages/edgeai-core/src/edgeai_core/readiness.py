"""Is every component of a plan installed? Answered before anything heavy runs, without importing a framework.

A record names its factory module (``edgeai_onnx.runtime:OnnxRuntime``) and the pip requirement that brings
its framework (``install = "edgeai-onnx[compile]"``). A component is ready when its factory's top package and
the modules it ``needs`` can be found (:func:`importlib.util.find_spec`, which imports nothing below a top
package) and every distribution its requirement declares (the distribution's own requirements plus those of the
named extras) is installed (read from the installed metadata, nothing imported). ``edgeai run --dry-run`` and
the ``edgeai matrix`` plan use it; the error is one line naming the component and what to ``pip install``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Iterable
from typing import Any

from edgeai_core.errors import MissingDependencyError
from edgeai_core.records import Registration

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def declared_needs(install: str) -> list[str]:
    """The distributions ``install`` (``"edgeai-onnx[compile]"``) brings: the distribution, its requirements
    without an extra marker and those of the named extras (markers other than ``extra`` are not evaluated:
    a requirement for another platform counts as not needed). Empty when the distribution is not installed."""
    match = _REQUIREMENT.match(install or "")
    if not match:
        return []
    name, extras = match.group(1), {_normalize(e) for e in (match.group(2) or "").split(",") if e.strip()}
    try:
        requires = importlib.metadata.requires(name) or []
    except importlib.metadata.PackageNotFoundError:
        return [name]
    needs = [name]
    for line in requires:
        requirement, _, marker = line.partition(";")
        extra = _EXTRA.search(marker)
        other_marker = _EXTRA.sub("", marker).strip(" ()and")
        if other_marker:  # platform or python markers: not evaluated, not needed here
            continue
        if extra is not None and _normalize(extra.group(1)) not in extras:
            continue
        found = _REQUIREMENT.match(requirement)
        if found:
            needs.append(found.group(1))
    return needs


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_need(record: Registration, input_format: str | None = None) -> tuple[str, str] | None:
    """The first thing ``record`` needs that is not installed, as ``(what, pip install argument)``, or None.

    A ``needs`` entry ``"FORMAT:module"`` counts only when the component reads ``input_format`` FORMAT."""
    top = record.factory.partition(":")[0].split(".")[0]
    if not _found(top):
        return top, record.install or record.provider or top
    for need in getattr(record, "needs", ()):
        fmt, _, module = need.rpartition(":")
        if fmt and fmt != input_format:
            continue
        if not _found(module):
            return module, f"{module} (installed separately: `edgeai describe {record.name}` says how)"
    for distribution in declared_needs(record.install)[1:]:
        if not _installed(distribution):
            return distribution, record.install
    return None


class NotInstalledError(MissingDependencyError):
    """A planned component's framework is missing, found before anything ran: a usage error (exit 2)."""

    exit_code = 2


def check_installed(records: Iterable[Registration | tuple[Registration, str | None]]) -> None:
    """Raise :class:`NotInstalledError` (one line: component, what is missing, what to install) for the
    first record whose framework is not installed; an entry may be ``(record, input format)``."""
    for entry in records:
        record, input_format = entry if isinstance(entry, tuple) else (entry, None)
        missing = missing_need(record, input_format)
        if missing is not None:
            raise NotInstalledError(record.qualified_name, *missing)


def plan_records(plan: Any) -> list[tuple[Registration, str | None]]:
    """The records of ``plan`` that run on this machine with the format each reads (a remote target runs the
    runtime, not this host)."""
    parts: list[tuple[Registration, str | None]] = []
    if plan.dataset is not None:
        parts.append((plan.dataset.record, None))
    parts.append((plan.model.record, None))
    parts += [(s.record, s.input_format) for s in plan.steps]
    if plan.target is None:
        parts.append((plan.runtime.record, plan.final_format))
    return parts


def check_plan_installed(plan: Any) -> None:
    """:func:`check_installed` for every component of ``plan`` that runs on this machine."""
    check_installed(plan_records(plan))
