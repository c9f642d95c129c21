"""Controlling what can be controlled in a benchmark: CPU affinity and independent repetitions.

``benchmark.cpu_affinity`` pins the timed runtime to a set of CPUs with ``os.sched_setaffinity`` (Linux):
every thread of the process that exists when pinning starts (the runtime's own thread pools, made when the
model was loaded, included) except the resource sampler's, and, by inheritance, every thread started while
pinned. The previous masks are restored afterwards. CPU ids must be among those the process may use: on a
target these are the CPUs ``edgeai serve`` was started on, so an operator limits what hosts may choose with
``taskset`` (docs/security.md).

``benchmark.repeat`` runs the whole benchmark (warm-up included) N times; the result keeps every sample in
order, each repetition's warm-up and sample counts, and :func:`controls_json` adds the per-repetition medians
and their spread to ``latency.repetitions``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from edgeai_core.errors import ParameterError

if TYPE_CHECKING:
    from edgeai_core.benchmark import BenchmarkResult, BenchmarkSettings
    from edgeai_core.progress import Progress

log = logging.getLogger(__name__)

#: threads left unpinned: they observe the benchmark and should not compete with it for the pinned CPUs
UNPINNED_THREADS = ("edgeai-resource-sampler",)


def affinity_supported() -> bool:
    return hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


def allowed_cpus() -> list[int] | None:
    """The CPUs this process may run on (None where the platform cannot say or pin)."""
    if not affinity_supported():
        return None
    return sorted(os.sched_getaffinity(0))


def check_affinity(
    cpus: Sequence[int], allowed: Iterable[int] | None, field: str = "benchmark.cpu_affinity"
) -> list[int]:
    """``cpus`` sorted without duplicates, or a :class:`ParameterError` naming ``field`` and the allowed CPUs."""
    wanted = sorted(set(int(c) for c in cpus))
    if not wanted:
        raise ParameterError(field, "needs at least one CPU id (leave it out to run unpinned)")
    if allowed is None:
        raise ParameterError(field, "CPU affinity is not supported on this platform (needs Linux)")
    allowed_set = set(allowed)
    outside = [c for c in wanted if c not in allowed_set]
    if outside:
        raise ParameterError(
            field,
            f"CPU {', '.join(map(str, outside))} is not among the CPUs this process may use "
            f"({_ranges(sorted(allowed_set))})",
        )
    return wanted


def _ranges(cpus: list[int]) -> str:
    parts: list[str] = []
    start = prev = None
    for cpu in [*cpus, None]:
        if cpu is not None and prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    return ", ".join(parts) or "none"


def _thread_ids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:  # no /proc: this thread only
        return [threading.get_native_id()]


@contextlib.contextmanager
def pinned(cpus: Sequence[int] | None) -> Iterator[list[int] | None]:
    """Pin the process's threads (except the sampler's) to ``cpus`` while the block runs; None: do nothing.

    Yields the CPUs applied. Raises :class:`ParameterError` for CPUs the process may not use.
    """
    if cpus is None:
        yield None
        return
    wanted = check_affinity(cpus, allowed_cpus())
    skip = {t.native_id for t in threading.enumerate() if t.name in UNPINNED_THREADS and t.native_id}
    previous: dict[int, set[int]] = {}
    for tid in _thread_ids():
        if tid in skip:
            continue
        try:
            previous[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, wanted)
        except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
            continue
    log.debug("pinned %d threads to CPUs %s", len(previous), wanted)
    try:
        yield sorted(os.sched_getaffinity(0))  # read back: what this (the timed) thread may use now
    finally:
        original = previous.get(threading.get_native_id())
        for tid in _thread_ids():  # threads started while pinned get this thread's original mask
            mask = previous.get(tid, original)
            if mask is None or tid in skip:
                continue
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)


def run_repeated(
    bind: Callable[[int], Callable[[], object]],
    settings: BenchmarkSettings,
    *,
    progress: Progress | None = None,
    on_samples: Callable[[str, list[int]], None] | None = None,
    pin: Callable[[Sequence[int] | None], AbstractContextManager[list[int] | None]] = pinned,
) -> BenchmarkResult:
    """:func:`~edgeai_core.benchmark.run_benchmark` ``settings.repeat`` times, pinned to
    ``settings.cpu_affinity`` by ``pin`` (this process by default; a remote target pins its own); one
    result holding every sample in measurement order."""
    from edgeai_core.benchmark import BenchmarkResult, run_benchmark

    with pin(settings.cpu_affinity) as applied:
        runs = []
        for index in range(settings.repeat):
            if settings.repeat > 1 and progress is not None:
                progress.update(index, settings.repeat, f"repetition {index + 1} of {settings.repeat}")
            runs.append(run_benchmark(bind, settings, progress=progress, on_samples=on_samples))
    if len(runs) == 1:
        result = runs[0]
        result.cpu_affinity = applied
        return result
    reasons = [r.stop_reason for r in runs]
    return BenchmarkResult(
        settings,
        [s for r in runs for s in r.warmup_ns],
        [s for r in runs for s in r.samples_ns],
        max(set(reasons), key=reasons.count),
        sum(r.wall_s for r in runs),
        repetitions=[(len(r.warmup_ns), len(r.samples_ns)) for r in runs],
        cpu_affinity=applied,
    )


def repetition_slices(result: BenchmarkResult) -> list[tuple[int, int]]:
    """(start, stop) of each repetition in ``result.samples_ns``; one slice without repetitions."""
    counts = [n for _, n in result.repetitions] if result.repetitions else [len(result.samples_ns)]
    slices, start = [], 0
    for n in counts:
        slices.append((start, start + n))
        start += n
    return slices


def repetition_medians(result: BenchmarkResult) -> list[float]:
    """Median of each repetition's samples (empty without repetitions)."""
    if not result.repetitions:
        return []
    samples = result.samples_ns
    return [float(statistics.median(samples[a:b])) for a, b in repetition_slices(result) if b > a]


def split_target_times(result: BenchmarkResult, timed: Sequence[int]) -> tuple[list[int], list[int]]:
    """A remote target's times (one per call, warm-ups and repetitions interleaved as they ran) split into
    (warm-up, measured), each in the order of ``result.warmup_ns`` and ``result.samples_ns``."""
    reps = result.repetitions or [(len(result.warmup_ns), len(result.samples_ns))]
    warm: list[int] = []
    measured: list[int] = []
    at = 0
    for w, n in reps:
        warm += timed[at : at + w]
        measured += timed[at + w : at + w + n]
        at += w + n
    return warm, measured


def controls_json(result: BenchmarkResult) -> dict[str, Any]:
    """``latency.cpu_affinity`` (when pinned) and ``latency.repetitions`` (when repeated)."""
    from edgeai_core.validity import spread_percent

    data: dict[str, Any] = {}
    if result.cpu_affinity is not None:
        data["cpu_affinity"] = list(result.cpu_affinity)
    if result.repetitions:
        medians = repetition_medians(result)
        data["repetitions"] = {
            "count": len(result.repetitions),
            "warmup_counts": [w for w, _ in result.repetitions],
            "sample_counts": [n for _, n in result.repetitions],
            "medians_ns": medians,
            "spread_percent": spread_percent(medians),
        }
    return data


__all__ = [
    "affinity_supported",
    "allowed_cpus",
    "check_affinity",
    "controls_json",
    "pinned",
    "repetition_medians",
    "run_repeated",
    "split_target_times",
]
