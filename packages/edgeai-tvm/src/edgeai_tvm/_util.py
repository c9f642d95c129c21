"""Small helpers shared by the compiler and the runtime; imports no TVM."""

from __future__ import annotations

import re
from pathlib import Path

MAX_MESSAGE = 300
# TVM errors carry a C++ backtrace ("Traceback (most recent call last):", "  3: tvm::...", "  File ...")
_FRAME = re.compile(r"^\s*(Traceback \(most recent call last\):|\d+:\s|File \"|File \S+, line \d+)")
# "/project/src/target/target.cc:226:" or "[13:53:00] /project/src/x.cc:95:": where in TVM's sources
_SOURCE = re.compile(r"(\[\d\d:\d\d:\d\d\]\s*)?(/[\w./-]+\.(cc|h|cpp)(:\d+)?:?\s*)")


def condense(message: object, limit: int = MAX_MESSAGE) -> str:
    """One line from a framework's multi-line error: backtrace frames and source locations dropped."""
    lines = [line for line in str(message).splitlines() if line.strip() and not _FRAME.match(line)]
    text = _SOURCE.sub("", " ".join(" ".join(lines).split()))
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text or "(no message)"


def shape_text(shape: tuple[object, ...] | list[object]) -> str:
    """``(None, 1, 8, 8)`` shown as ``(?, 1, 8, 8)``."""
    dims = ["?" if d is None or isinstance(d, str) else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


#: The files of a MetaSchedule JSON database folder.
WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"


def has_database(folder: Path) -> bool:
    return (folder / WORKLOADS).is_file() and (folder / RECORDS).is_file()
