"""Run validity: was the machine quiet while it measured, and are the latency samples stable?

Two kinds of checks decide whether a benchmark's numbers can be trusted:

- **Environment**, from the resource series sampled beside the benchmark (host side, and the target's own
  series for remote runs): CPU used by other processes, load average, CPU steal time, CPU frequency changes,
  thermal throttling and memory pressure. :class:`edgeai_core.systemfacts.SystemReader` reads what the
  kernel exposes (Linux ``/proc`` and ``/sys``); whatever cannot be read on a platform is listed as
  unavailable with the reason, never guessed. The :class:`~edgeai_core.resources.ResourceSampler` calls it on
  every sample.
- **Stability** of the samples themselves: drift between the first and last thirds, the spread of the
  medians of consecutive windows, the share of outliers, and (with ``benchmark.repeat``) the spread of the
  repetitions' medians.

Every check has one threshold, all listed in :data:`THRESHOLDS` (documented in the README). A check whose
value exceeds its threshold is ``warn``; any warning makes the run ``noisy``, and each warning adds a reason in
plain words. :func:`assess` builds the ``validity`` section of results.json.

This module imports the standard library only; :mod:`edgeai_core.systemfacts` reads the kernel's figures.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeai_core.benchmark import BenchmarkResult

log = logging.getLogger(__name__)

CLEAN = "clean"
NOISY = "noisy"
PASS = "pass"
WARN = "warn"


@dataclass(frozen=True)
class Threshold:
    """One check: the largest value that still passes, its unit, and what the value measures."""

    name: str
    limit: float
    unit: str
    what: str
    #: a sentence for a warning, formatted with ``value`` and ``limit``
    reason: str


#: Every check and its threshold: a value above ``limit`` warns. One table, documented in the README.
THRESHOLDS: dict[str, Threshold] = {
    t.name: t
    for t in (
        Threshold(
            "other_cpu",
            25.0,
            "%",
            "mean CPU use of other processes, in percent of all CPUs",
            "other processes used {value:.0f}% of the CPUs on average (limit {limit:g}%)",
        ),
        Threshold(
            "load_per_cpu",
            1.0,
            "",
            "highest 1-minute load average divided by the number of CPUs",
            "the load average reached {value:.2f} per CPU: more runnable tasks than CPUs (limit {limit:g})",
        ),
        Threshold(
            "steal",
            5.0,
            "%",
            "mean CPU time stolen by the hypervisor, in percent",
            "the hypervisor took {value:.1f}% of the CPU time (steal; limit {limit:g}%)",
        ),
        Threshold(
            "cpu_freq_change",
            25.0,
            "%",
            "range of the mean CPU clock over the run, in percent of its highest value",
            "the CPU clock changed by {value:.0f}% during the run (limit {limit:g}%)",
        ),
        Threshold(
            "thermal_throttle",
            0.0,
            "events",
            "thermal throttling events counted by the kernel during the run",
            "the CPUs were thermally throttled {value:.0f} times during the run",
        ),
        Threshold(
            "memory_pressure",
            10.0,
            "%",
            "highest share of time tasks stalled on memory (PSI some avg10), in percent",
            "tasks stalled waiting for memory {value:.0f}% of the time (limit {limit:g}%)",
        ),
        Threshold(
            "memory_low",
            95.0,
            "%",
            "highest share of memory in use (100 - MemAvailable), in percent",
            "memory was {value:.0f}% used: the system may swap or reclaim (limit {limit:g}%)",
        ),
        Threshold(
            "drift",
            10.0,
            "%",
            "change of the median from the first to the last third of the samples, in percent",
            "latency drifted by {value:.0f}% from the first to the last third of the run (limit {limit:g}%)",
        ),
        Threshold(
            "window_spread",
            20.0,
            "%",
            "range of the medians of 10 consecutive windows, in percent of the overall median",
            "the medians of consecutive windows differ by {value:.0f}% of the median (limit {limit:g}%)",
        ),
        Threshold(
            "outliers",
            2.0,
            "%",
            "share of samples above 3x the median, in percent",
            "{value:.1f}% of the samples took more than 3x the median (limit {limit:g}%)",
        ),
        Threshold(
            "repeat_spread",
            10.0,
            "%",
            "range of the repetitions' medians, in percent of their median",
            "the repetitions' medians differ by {value:.0f}% (limit {limit:g}%)",
        ),
    )
}

#: Stability checks need this many samples per part (drift: per third; window spread: per window).
MIN_PER_PART = 10
#: Number of windows of the window-spread check.
WINDOWS = 10
#: Outliers are samples above this multiple of the median.
OUTLIER_FACTOR = 3.0

# -- checks ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``side`` is ``host``, ``target`` or ``samples`` (the latency samples)."""

    name: str
    side: str
    value: float
    threshold: float
    unit: str
    status: str
    what: str

    def reason(self) -> str:
        spec = THRESHOLDS[self.name]
        sentence = spec.reason.format(value=self.value, limit=self.threshold)
        return f"{self.side}: {sentence}" if self.side in ("host", "target") else sentence

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "side": self.side,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "status": self.status,
            "what": self.what,
        }


def check(name: str, side: str, value: float) -> Check:
    """The check ``name`` of ``value`` against its threshold in :data:`THRESHOLDS`."""
    spec = THRESHOLDS[name]
    status = WARN if value > spec.limit else PASS
    return Check(name, side, float(value), spec.limit, spec.unit, status, spec.what)


def drift_percent(samples: Sequence[float]) -> float | None:
    """``|median(last third) / median(first third) - 1|`` in percent; None with fewer than 30 samples."""
    n = len(samples)
    third = n // 3
    if third < MIN_PER_PART:
        return None
    first = statistics.median(samples[:third])
    last = statistics.median(samples[n - third :])
    if first <= 0:
        return None
    return abs(last / first - 1.0) * 100.0


def window_medians(samples: Sequence[float], windows: int = WINDOWS) -> list[float]:
    """Medians of ``windows`` consecutive windows of equal size (the remainder joins the last one)."""
    n = len(samples)
    count = min(windows, n // MIN_PER_PART)
    if count < 2:
        return []
    size = n // count
    return [
        float(statistics.median(samples[i * size : (i + 1) * size if i < count - 1 else n]))
        for i in range(count)
    ]


def window_spread_percent(samples: Sequence[float], windows: int = WINDOWS) -> float | None:
    """Range of the window medians in percent of the overall median; None with too few samples."""
    medians = window_medians(samples, windows)
    if not medians:
        return None
    overall = float(statistics.median(samples))
    if overall <= 0:
        return None
    return (max(medians) - min(medians)) / overall * 100.0


def outlier_percent(samples: Sequence[float], factor: float = OUTLIER_FACTOR) -> float | None:
    """Share of samples above ``factor`` x the median, in percent; None without samples."""
    if not samples:
        return None
    median = float(statistics.median(samples))
    return 100.0 * sum(1 for s in samples if s > factor * median) / len(samples)


def spread_percent(values: Sequence[float]) -> float | None:
    """Range of ``values`` in percent of their median (the between-repetition spread)."""
    if len(values) < 2:
        return None
    median = float(statistics.median(values))
    return None if median <= 0 else (max(values) - min(values)) / median * 100.0


def _mean(values: Sequence[Any]) -> float | None:
    present = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(present) / len(present) if present else None


def _present(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def environment_checks(series: Mapping[str, Any] | None, side: str) -> tuple[list[Check], dict[str, str]]:
    """Checks from one resource series (``resources.host`` or ``resources.target``) and what was unavailable."""
    if not series:
        return [], {"environment": "no resource series (resource sampling off or not reported)"}
    checks: list[Check] = []
    unavailable: dict[str, str] = {}
    system = series.get("system") or {}
    if not isinstance(system, Mapping):
        system = {}
    cpu_count = system.get("cpu_count") or 1
    own = series.get("cpu_percent") or []
    total = series.get("system_cpu_percent") or []
    others = [
        max(0.0, float(t) - float(o) / cpu_count)
        for o, t in zip(own, total, strict=False)
        if isinstance(o, (int, float)) and isinstance(t, (int, float))
    ]
    if others and system:
        checks.append(check("other_cpu", side, sum(others) / len(others)))
    else:
        unavailable["other_cpu"] = "no CPU readings with the CPU count (a series from an older edgeai?)"
    for key, reason in (system.get("unavailable") or {}).items():
        unavailable[_CHECK_OF_SERIES.get(key, key)] = str(reason)
    load = _present(system.get("load_avg_1m") or [])
    if load:
        checks.append(check("load_per_cpu", side, max(load) / cpu_count))
    steal = _mean(system.get("steal_percent") or [])
    if steal is not None:
        checks.append(check("steal", side, steal))
    freqs = _present(system.get("cpu_freq_mhz") or [])
    if freqs and max(freqs) > 0:
        checks.append(check("cpu_freq_change", side, (max(freqs) - min(freqs)) / max(freqs) * 100.0))
    throttles = _present(system.get("thermal_throttle_count") or [])
    if throttles:
        checks.append(check("thermal_throttle", side, throttles[-1] - throttles[0]))
    pressure = _present(system.get("memory_pressure_percent") or [])
    if pressure:
        checks.append(check("memory_pressure", side, max(pressure)))
    used = _present(system.get("memory_used_percent") or [])
    if used:
        checks.append(check("memory_low", side, max(used)))
    return checks, unavailable


_CHECK_OF_SERIES = {
    "load_avg_1m": "load_per_cpu",
    "steal_percent": "steal",
    "cpu_freq_mhz": "cpu_freq_change",
    "thermal_throttle_count": "thermal_throttle",
    "memory_pressure_percent": "memory_pressure",
}


def stability_checks(
    samples: Sequence[float], repetition_medians: Sequence[float] = ()
) -> tuple[list[Check], dict[str, str]]:
    """Checks on the latency samples themselves (in measurement order)."""
    checks: list[Check] = []
    unavailable: dict[str, str] = {}
    few = f"{len(samples)} samples are too few"
    drift = drift_percent(samples)
    if drift is None:
        unavailable["drift"] = f"{few} (needs {3 * MIN_PER_PART})"
    else:
        checks.append(check("drift", "samples", drift))
    spread = window_spread_percent(samples)
    if spread is None:
        unavailable["window_spread"] = f"{few} (needs {2 * MIN_PER_PART})"
    else:
        checks.append(check("window_spread", "samples", spread))
    outliers = outlier_percent(samples)
    if outliers is not None:
        checks.append(check("outliers", "samples", outliers))
    rep = spread_percent(repetition_medians)
    if rep is not None:
        checks.append(check("repeat_spread", "samples", rep))
    return checks, unavailable


@dataclass
class Validity:
    """The ``validity`` section of results.json: every check, the verdict and its reasons."""

    checks: list[Check] = field(default_factory=list)
    #: checks that could not be made, as ``(side, name, reason)``
    unavailable: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return NOISY if any(c.status == WARN for c in self.checks) else CLEAN

    @property
    def reasons(self) -> list[str]:
        return [c.reason() for c in self.checks if c.status == WARN]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "checks": [c.to_json() for c in self.checks],
            "unavailable": [{"side": s, "name": n, "reason": r} for s, n, r in self.unavailable],
        }


def assess(
    samples_ns: Sequence[int],
    host_series: Mapping[str, Any] | None,
    target_series: Mapping[str, Any] | None = None,
    *,
    remote: bool = False,
    repetition_medians: Sequence[float] = (),
) -> Validity:
    """The validity of a benchmark: stability of ``samples_ns`` and the host's (and target's) environment."""
    result = Validity()
    checks, missing = stability_checks(samples_ns, repetition_medians)
    result.checks += checks
    result.unavailable += [("samples", n, r) for n, r in missing.items()]
    sides: list[tuple[str, Mapping[str, Any] | None]] = [("host", host_series)]
    if remote:
        sides.append(("target", target_series))
    for side, series in sides:
        checks, missing = environment_checks(series, side)
        result.checks += checks
        result.unavailable += [(side, n, r) for n, r in missing.items()]
    return result


def assess_run(result: BenchmarkResult, document: Mapping[str, Any], remote: bool) -> Validity:
    """:func:`assess` of a finished benchmark with the resource series already in ``document``."""
    from edgeai_core.control import repetition_medians

    resources = document.get("resources") or {}
    return assess(
        result.samples_ns,
        resources.get("host"),
        resources.get("target"),
        remote=remote,
        repetition_medians=repetition_medians(result),
    )


def threshold_table() -> str:
    """:data:`THRESHOLDS` as the Markdown table the README shows (a test keeps the two in step)."""
    rows = ["| check | what it measures | warns above |", "|---|---|---|"]
    for t in THRESHOLDS.values():
        unit = t.unit if t.unit in ("", "%") else f" {t.unit}"
        rows.append(f"| `{t.name}` | {t.what} | {t.limit:g}{unit} |")
    return "\n".join(rows)


def verdict_line(validity: Mapping[str, Any] | None) -> str | None:
    """One line for a terminal summary: None for a clean run (or none assessed), else the reasons."""
    if not validity or validity.get("verdict") != NOISY:
        return None
    reasons = validity.get("reasons") or []
    return "NOISY run: " + ("; ".join(str(r) for r in reasons) or "see validity in results.json")


__all__ = [
    "CLEAN",
    "NOISY",
    "PASS",
    "THRESHOLDS",
    "WARN",
    "Check",
    "Threshold",
    "Validity",
    "assess",
    "assess_run",
    "check",
    "drift_percent",
    "environment_checks",
    "outlier_percent",
    "spread_percent",
    "stability_checks",
    "threshold_table",
    "verdict_line",
    "window_medians",
    "window_spread_percent",
]
