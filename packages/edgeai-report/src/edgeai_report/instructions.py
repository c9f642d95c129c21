"""Guest instructions per inference (the optional ``instructions`` section), shown beside latency.

``edgeai target count`` (edgeai-emulator) counts the instructions the target's instruction set executed per
inference under QEMU's counting plugin: a deterministic cost figure, independent of the machine that emulated
it. Documents without the section show nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeai_report.load import Run


def section(run: Run) -> dict[str, Any] | None:
    data = run.doc.get("instructions")
    return data if isinstance(data, dict) and data.get("per_inference") is not None else None


def value_text(data: dict[str, Any]) -> str:
    """``261,874 aarch64 instructions (spread 0.04%, 3 repeats)``."""
    repeats = data.get("repeats") or len(data.get("runs") or [])
    spread = data.get("spread")
    spread_text = f"spread {float(spread):.2%}, " if spread is not None else ""
    return (
        f"{float(data['per_inference']):,.0f} {data.get('isa') or 'guest'} instructions "
        f"({spread_text}{repeats} repeat{'s' if repeats != 1 else ''})"
    )


def summary_rows(run: Run) -> list[list[str]]:
    """The summary table's row, or none when the run has no count."""
    data = section(run)
    return [] if data is None else [["instructions per inference", value_text(data)]]


def sentence(run: Run) -> str | None:
    """One sentence for the latency section: the count, how it was measured and where."""
    data = section(run)
    if data is None:
        return None
    runs = data.get("runs") or []
    counts = ""
    if runs:
        first = runs[0]
        counts = f" (runs of {first.get('count_low')} and {first.get('count_high')} inferences)"
    return (
        f"Instructions per inference: {value_text(data)} on {data.get('emulator') or 'an emulator'}, "
        f"runtime {data.get('runtime')}, batch {data.get('batch_size', 1)}: the difference of two run "
        f"lengths{counts}, a count of executed instructions, not time."
    )


__all__ = ["section", "sentence", "summary_rows", "value_text"]
