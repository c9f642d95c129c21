"""Is every component of a plan installed? Answered before anything heavy runs, without importing a framework.

A record names its factory module (``edgeai_onnx.runtime:OnnxRuntime``) and the pip requirement that brings
its framework (``install = "edgeai-onnx[compile]"``). A component is ready when its factory's top package and
the modules it ``needs`` can be found (:func:`importlib.util.find_spec`, which imports nothing below a top
package) and every distribution its requirement declares (the distribution's own requirements plus those of the
named extras) is installed (read from the installed metadata, nothing imported). ``edgeai run --dry-run`` and
the ``edgeai matrix`` plan use it; the error is one line naming the component and what to ``pip install``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edgeai_core.errors import MissingDependencyError, PlanError
from edgeai_core.records import Registration

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


#: answers of one batch of look-ups (:func:`availabilities`): a listing asks about the same few modules and
#: distributions for dozens of records. None outside a batch, so a check never reuses a stale answer.
_memo: dict[tuple[str, str], Any] | None = None


def _memoized(kind: str, key: str, compute: Any) -> Any:
    if _memo is None:
        return compute(key)
    if (kind, key) not in _memo:
        _memo[(kind, key)] = compute(key)
    return _memo[(kind, key)]


def _installed(distribution: str) -> bool:
    return bool(_memoized("installed", distribution, _installed_now))


def _installed_now(distribution: str) -> bool:
    return _normalize(distribution) in _distributions()


def _distributions() -> dict[str, Path]:
    """Installed distributions by normalized name -> their metadata folder, from one listing of each sys.path
    folder (one :func:`importlib.metadata.distribution` call lists them all again, for every name asked)."""
    found: dict[str, Path] = _memoized("listing", "", _scan_sys_path)[0]
    return found


def _scan_sys_path(_: str) -> tuple[dict[str, Path], set[str]]:
    """One listing of every sys.path folder: ``(distributions by normalized name, top-level module names)``."""
    distributions: dict[str, Path] = {}
    modules: set[str] = set()
    suffixes = tuple(importlib.machinery.all_suffixes())
    for entry in sys.path:
        folder = Path(entry or ".")
        try:
            with os.scandir(folder) as listing:
                found = [(item.name, item.is_dir()) for item in listing]
        except OSError:
            continue
        for name, is_dir in found:
            if name.endswith((".dist-info", ".egg-info")):
                key = _normalize(name.partition("-")[0].removesuffix(".egg-info"))
                distributions.setdefault(key, folder / name)
            elif is_dir or name.endswith(suffixes):  # a package (or namespace) folder, a module, an extension
                modules.add(name.partition(".")[0])
    return distributions, modules


def declared_needs(install: str) -> list[str]:
    """The distributions ``install`` (``"edgeai-onnx[compile]"``) brings: the distribution, its requirements
    without an extra marker and those of the named extras (markers other than ``extra`` are not evaluated:
    a requirement for another platform counts as not needed). Empty when the distribution is not installed."""
    return list(_memoized("declared", install, _declared_needs))


def _declared_needs(install: str) -> list[str]:
    match = _REQUIREMENT.match(install or "")
    if not match:
        return []
    name, extras = match.group(1), {_normalize(e) for e in (match.group(2) or "").split(",") if e.strip()}
    folder = _distributions().get(_normalize(name))
    if folder is None:
        return [name]
    requires = importlib.metadata.PathDistribution(folder).requires or []
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
    return bool(_memoized("found", module, _found_now))


def _found_now(module: str) -> bool:
    if module in _memoized("listing", "", _scan_sys_path)[1]:
        return True
    return _find_spec(module)  # built-in modules, import hooks (some editable installs)


def _find_spec(module: str) -> bool:
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
    for module in getattr(record, "modules", ()):
        if not _found(module):
            return module, record.install or record.provider or module
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


def install_command(install: str) -> str:
    """The shell command for a ``missing_need`` install argument: ``pip install 'edgeai-onnx[compile]'`` (an
    argument that is not a requirement, such as the note on a separately installed module, is returned as is)."""
    if _REQUIREMENT.fullmatch(install.strip()) is None:
        return install
    return f"pip install '{install}'" if "[" in install else f"pip install {install}"


def availability(record: Registration) -> dict[str, str] | None:
    """None when ``record``'s component can be built here, else ``{"missing": what, "install": command}``:
    the first module or distribution its factory needs that cannot be found, and the command that brings it.
    Found without importing anything (what ``edgeai list`` and ``edgeai plugins`` show as ``unavailable``)."""
    missing = missing_need(record)
    if missing is None:
        return None
    return {"missing": missing[0], "install": install_command(missing[1])}


@contextlib.contextmanager
def _batch() -> Iterator[None]:
    """Within the block each module and distribution is looked up once."""
    global _memo
    saved, _memo = _memo, ({} if _memo is None else _memo)
    try:
        yield
    finally:
        _memo = saved


def availabilities(records: Iterable[Registration]) -> list[dict[str, str] | None]:
    """:func:`availability` of each record, looking each module and distribution up once."""
    with _batch():
        return [availability(record) for record in records]


class NotInstalledError(MissingDependencyError):
    """A planned component's framework is missing, found before anything ran: a usage error (exit 2)."""

    exit_code = 2


def check_installed(records: Iterable[Registration | tuple[Registration, str | None]]) -> None:
    """Raise :class:`NotInstalledError` (one line: component, what is missing, what to install) for the
    first record whose framework is not installed; an entry may be ``(record, input format)``."""
    with _batch():
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
    """:func:`check_installed` for every component of ``plan`` that runs on this machine, then
    :func:`check_plan_dims`."""
    check_installed(plan_records(plan))
    check_plan_dims(plan)


def onnx_file_inputs(path: Path) -> list[tuple[str, tuple[int | str, ...]]] | None:
    """``[(name, shape)]`` of an ONNX file's graph inputs that are not initializers (a dynamic dimension is its
    symbol, or ``"?"``), read with the ``onnx`` package where installed; None where it cannot be read. Read once
    per file version (the matrix plans many roads of one model)."""
    if not _found("onnx") or not path.is_file():
        return None
    stat = path.stat()
    return _onnx_file_inputs(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _onnx_file_inputs(path: str, mtime_ns: int, size: int) -> list[tuple[str, tuple[int | str, ...]]] | None:
    try:
        import onnx

        graph = onnx.load(path, load_external_data=False).graph
    except Exception:  # not an ONNX file: the model stage says so
        return None
    constants = {t.name for t in graph.initializer}
    found: list[tuple[str, tuple[int | str, ...]]] = []
    for value in graph.input:
        if value.name in constants:
            continue
        dims = value.type.tensor_type.shape.dim
        found.append(
            (value.name, tuple(d.dim_value if d.dim_value > 0 else (d.dim_param or "?") for d in dims))
        )
    return found


def check_plan_dims(plan: Any) -> None:
    """Raise :class:`PlanError` (exit 2) when a compiler that builds for static shapes (``static_dims``) would
    get a model input with a dynamic dimension besides the batch, where the plan can know: an ONNX model file
    (format ``onnx``, parameter ``path``) whose first input's shape the ``input_shape`` parameter does not fix."""
    static = [(i, s) for i, s in enumerate(plan.steps) if getattr(s.record, "static_dims", False)]
    model = plan.model
    if not static or getattr(model.record, "format", "") != "onnx" or not model.params.get("path"):
        return
    inputs = onnx_file_inputs(Path(model.params["path"]))
    if not inputs:
        return
    index, step = static[0]
    for position, (name, shape) in enumerate(inputs):
        if position == 0 and model.params.get("input_shape"):
            continue
        dynamic = [i for i, d in enumerate(shape) if i > 0 and not isinstance(d, int)]
        if dynamic:
            shown = "(" + ", ".join(str(d) for d in shape) + ")"
            example = ",".join(
                "1" if i == 0 else str(d) if isinstance(d, int) else f"<{d}>" for i, d in enumerate(shape)
            )
            hint = (
                f"fix it with --set model.input_shape=[{example}]"
                if position == 0
                else "export the model with that dimension fixed"
            )
            raise PlanError(
                f"steps[{index}]: {step.record.kind} '{step.record.name}' builds for static shapes, but input "
                f"'{name}' of {Path(model.params['path']).name} has a dynamic dimension {dynamic[0]} in {shown}; "
                f"{hint}"
            )
