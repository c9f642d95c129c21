"""Small helpers shared by the compiler and the runtime; imports no TVM."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from edgeai_core.api import MAX_MESSAGE
from edgeai_core.api import condense as _condense
from edgeai_core.api import shape_text as _shape_text

# TVM errors carry a C++ backtrace ("Traceback (most recent call last):", "  3: tvm::...", "  File ...")
_FRAME = re.compile(r"^\s*(Traceback \(most recent call last\):|\d+:\s|File \"|File \S+, line \d+)")
# "/project/src/target/target.cc:226:" or "[13:53:00] /project/src/x.cc:95:": where in TVM's sources
_SOURCE = re.compile(r"(\[\d\d:\d\d:\d\d\]\s*)?(/[\w./-]+\.(cc|h|cpp)(:\d+)?:?\s*)")


def condense(message: object, limit: int = MAX_MESSAGE) -> str:
    """One line from a framework's multi-line error: backtrace frames and source locations dropped."""
    return _condense(message, limit, drop_lines=_FRAME, drop=(_SOURCE,))


def shape_text(shape: Sequence[object]) -> str:
    """``(None, 1, 8, 8)`` shown as ``(?, 1, 8, 8)``; named dimensions show as ``?`` too."""
    return _shape_text(shape, names=False)


#: The files of a MetaSchedule JSON database folder.
WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"


def has_database(folder: Path) -> bool:
    return (folder / WORKLOADS).is_file() and (folder / RECORDS).is_file()
