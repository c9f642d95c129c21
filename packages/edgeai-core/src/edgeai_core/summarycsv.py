"""One CSV row per run (``edgeai demo --csv``, ``edgeai matrix --csv``, ``edgeai report --csv``).

The columns follow the habits of ``benchmark_app`` and TI's benchmark scripts: the road (variant or
combination), its status, the artifact's size, the accuracy, the latency percentiles in nanoseconds and the
throughput; ``validity`` holds the verdict of the results' ``validity`` section where the run has one (empty
otherwise). ``quality_metric`` and ``quality`` name and give the metric that stands for the run's quality
(accuracy, ``map`` for detection, ``miou`` for segmentation; :func:`edgeai_core.tasks.primary_metric`). Empty
cells stand for "not measured". Reads results documents only; imports nothing heavy.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

CSV_COLUMNS = (
    "road", "status", "size_bytes", "accuracy", "count",
    "mean_ns", "min_ns", "p50_ns", "p90_ns", "p95_ns", "p99_ns", "max_ns",
    "throughput_per_s", "validity", "results", "quality_metric", "quality",
)  # fmt: skip


def validity_verdict(section: Any) -> str | None:
    """The verdict of a ``validity`` section, read defensively: a string, or a mapping's ``verdict``
    (``status``, ``valid`` as a fallback); None where there is none."""
    if isinstance(section, str):
        return section
    if not isinstance(section, Mapping):
        return None
    for key in ("verdict", "status"):
        value = section.get(key)
        if isinstance(value, str):
            return value
    valid = section.get("valid")
    if isinstance(valid, bool):
        return "valid" if valid else "invalid"
    return None


def _size(doc: Mapping[str, Any]) -> Any:
    """The size of what the runtime loaded (its ``runtime-load`` step), else of the last step's artifact."""
    steps = [
        s for s in doc.get("steps") or [] if isinstance(s, Mapping) and isinstance(s.get("artifact"), Mapping)
    ]
    loads = [s for s in steps if s.get("kind") == "runtime-load"]
    chosen = loads or steps
    return chosen[-1]["artifact"].get("size_bytes") if chosen else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def summary_row(
    road: str, doc: Mapping[str, Any] | None, results: Path | str | None = None
) -> dict[str, Any]:
    """The CSV row of one run: ``doc`` is its results.json (None where the run left none)."""
    doc = doc or {}
    latency = _mapping(doc.get("latency"))
    stats = _mapping(latency.get("stats"))
    quality = _mapping(doc.get("quality"))
    row: dict[str, Any] = {
        "road": road,
        "status": doc.get("status"),
        "size_bytes": _size(doc),
        "accuracy": quality.get("accuracy"),
        "count": stats.get("count"),
    }
    for key in ("mean", "min", "p50", "p90", "p95", "p99", "max"):
        row[f"{key}_ns"] = stats.get(key, stats.get("median") if key == "p50" else None)
    row["throughput_per_s"] = latency.get("throughput_per_s")
    row["validity"] = validity_verdict(doc.get("validity"))
    row["results"] = None if results is None else str(results)
    from edgeai_core.tasks import primary_metric  # numpy: only when a row is made

    primary = primary_metric(quality)
    row["quality_metric"], row["quality"] = primary if primary is not None else (None, None)
    return row


def rows_from_results(roads: Iterable[tuple[str, Path | str | None, str | None]]) -> list[dict[str, Any]]:
    """Rows for (road, results.json path, status) triples; a missing or unreadable file gives a row of empty
    cells but the road and ``status`` (``skipped``); a document's own status wins over ``status``."""
    rows = []
    for road, path, status in roads:
        doc = None
        if path is not None and Path(path).is_file():
            try:
                loaded = json.loads(Path(path).read_text(encoding="utf-8"))
                doc = loaded if isinstance(loaded, dict) else None
            except (OSError, ValueError):
                doc = None
        row = summary_row(road, doc, path if doc is not None else None)
        if row["status"] is None:
            row["status"] = status
        rows.append(row)
    return rows


def csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as CSV text, header first (``\\n`` line ends; empty cells for None)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in CSV_COLUMNS})
    return buffer.getvalue()


def write_summary_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` to ``path`` (replaced), or to stdout where ``path`` is ``-``."""
    text = csv_text(rows)
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def csv_option(what: str) -> Any:
    """``--csv FILE``: one row per run (``-``: stdout)."""
    return click.option(
        "--csv",
        "csv_path",
        metavar="FILE",
        help=f"Write one CSV row per {what} to FILE ('-': stdout): status, size, accuracy, latency "
        "percentiles, throughput, validity.",
    )
