"""What the compatibility reports share: provenance fields, per-record parameters, a worker per record, and
writing the document as JSON, Markdown and reStructuredText.

``edgeai grid`` runs grid suites and ``edgeai onnx-backend-tests`` runs ONNX backends, both records of an
extra hook; each record gets its parameters from ``--set NAME.PARAM=VALUE`` and runs in its own worker
process (:mod:`edgeai_compat.isolation`), logging to ``OUTPUT/logs/NAME.log`` and working in
``OUTPUT/work/NAME``.
"""

from __future__ import annotations

import contextlib
import datetime
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeai_compat.isolation import IsolatedWorker, isolated
from edgeai_core.api import Progress, Registration, UsageError, write_json_atomic


def provenance(schema: str, *, edgeai_version: bool = True) -> dict[str, Any]:
    """The first fields of a document: schema, creation time (UTC), edgeai version, Python and machine."""
    document: dict[str, Any] = {
        "schema": schema,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if edgeai_version:
        from edgeai_core import __version__

        document["edgeai_version"] = __version__
    document.update(python=platform.python_version(), machine=platform.machine())
    return document


def record_params(
    chosen: Sequence[Registration],
    params: Mapping[str, Mapping[str, Any]] | None,
    *,
    what: str,
    scope: str,
) -> dict[str, dict[str, Any]]:
    """Each chosen record's parameters, validated (``scope.NAME.PARAM`` in errors) and JSON-ready.

    ``params`` maps record names to their settings; a name that is not among ``chosen`` is a usage error.
    """
    params = dict(params or {})
    unknown = sorted(set(params) - {r.name for r in chosen})
    if unknown:
        raise UsageError(
            f"--set: {', '.join(unknown)} is not a selected {what} ({', '.join(r.name for r in chosen)})"
        )
    found = {}
    for record in chosen:
        validated = record.params.validate(params.get(record.name, {}), f"{scope}.{record.name}")
        found[record.name] = {k: str(v) if isinstance(v, Path) else v for k, v in validated.items()}
    return found


def record_entry(
    record: Registration, params: Mapping[str, Any], facts: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """A record's entry in a document, before its worker ran: name, summary, ``facts``, provider, ``params``,
    status ``ok``, error, versions, ``extra``, duration."""
    return {
        "name": record.name,
        "summary": record.summary,
        **facts,
        "provider": record.provider,
        "params": dict(params),
        "status": "ok",
        "error": None,
        "versions": {},
        **extra,
        "duration_s": None,
    }


@contextlib.contextmanager
def record_worker(
    reference: str,
    output: Path,
    entry: dict[str, Any],
    modules: list[dict[str, Any]],
    setup: Mapping[str, Any],
    *,
    timeout_s: float,
    isolate: bool,
) -> Iterator[IsolatedWorker]:
    """The worker running ``reference``'s jobs for the record of ``entry``: its setup is ``setup`` plus the
    plugin ``modules`` to load, the entry's ``params`` and the record's ``workdir``.

    The entry's ``duration_s`` is how long the block took, however it ends.
    """
    started = time.perf_counter()
    name = entry["name"]
    try:
        with isolated(
            reference,
            {"modules": modules, "params": entry["params"], **setup, "workdir": str(output / "work" / name)},
            timeout_s=timeout_s,
            log_path=output / "logs" / f"{name}.log",
            isolate=isolate,
        ) as worker:
            yield worker
    finally:
        entry["duration_s"] = round(time.perf_counter() - started, 3)


def unavailable(entry: dict[str, Any], status: str, error: str | None, progress: Progress) -> None:
    """The record's worker could not list or build it: the entry says why, and so does the progress line."""
    entry.update(status=status, error=error)
    progress.done(f"unavailable: {error}")


def write_documents(
    document: Mapping[str, Any],
    output: Path,
    stem: str,
    markdown: Callable[[Mapping[str, Any]], str],
    rst: Callable[[Mapping[str, Any]], str],
) -> list[Path]:
    """Write ``STEM.json``, ``STEM.md`` and ``STEM.rst`` into ``output``; return their paths."""
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / f"{stem}.json", output / f"{stem}.md", output / f"{stem}.rst"]
    write_json_atomic(paths[0], document)
    paths[1].write_text(markdown(document), encoding="utf-8")
    paths[2].write_text(rst(document), encoding="utf-8")
    return paths
