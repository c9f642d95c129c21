"""Units and number formatting shared by tables and plots.

Latencies are stored in nanoseconds; a table shows one unit for all its rows (the one that suits its smallest
median), stated in the column header, with enough decimals that the value read back equals the document's to
the shown precision. Sizes use binary units (KiB, MiB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    """A display unit: ``value_in_unit = value / scale``, printed with ``decimals`` decimals."""

    label: str
    scale: float
    decimals: int

    def fmt(self, value: float | None) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "-"
        return f"{value / self.scale:.{self.decimals}f}"


TIME_UNITS = (
    Unit("ns", 1.0, 0),
    Unit("us", 1e3, 3),
    Unit("ms", 1e6, 3),
    Unit("s", 1e9, 4),
)
SIZE_UNITS = (Unit("B", 1.0, 0), Unit("KiB", 1024.0, 1), Unit("MiB", 1024.0**2, 2), Unit("GiB", 1024.0**3, 2))


def time_unit(values_ns: Iterable[float | None]) -> Unit:
    """The unit for a set of latencies: chosen by the smallest, so no value reads as 0.000."""
    present = [abs(v) for v in values_ns if v is not None and math.isfinite(v) and v != 0]
    return _unit_of_smallest(present, TIME_UNITS) if present else TIME_UNITS[1]


def size_unit(values: Iterable[float | None]) -> Unit:
    present = [v for v in values if v is not None and v > 0]
    return _unit_of_smallest(present, SIZE_UNITS) if present else SIZE_UNITS[0]


def _unit_of_smallest(present: list[float], units: tuple[Unit, ...]) -> Unit:
    """The largest of ``units`` (ascending) that the smallest of ``present`` reaches, else the first."""
    smallest = min(present)
    for unit in reversed(units):
        if smallest >= unit.scale:
            return unit
    return units[0]


def human_time(ns: float | None) -> str:
    """One latency with its own unit (``14.76 us``), for captions and summaries."""
    if ns is None or not math.isfinite(ns):
        return "-"
    unit = time_unit([ns])
    value = ns / unit.scale
    return f"{value:.4g} {unit.label}" if unit.label != "ns" else f"{value:.0f} ns"


def human_size(size: float | None) -> str:
    if size is None:
        return "-"
    unit = size_unit([size])
    return f"{size:.0f} B" if unit.label == "B" else f"{size / unit.scale:.1f} {unit.label}"


def fixed(value: float | None, decimals: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{decimals}f}"


def signed(value: float | None, decimals: int = 2, suffix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.{decimals}f}{suffix}"
