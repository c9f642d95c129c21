"""The latency benchmark loop: warm-up, then timed calls until enough samples and time were collected.

Only the inference call itself is timed. The caller's ``bind(i)`` prepares the inputs of iteration ``i``
(copying, setting tensors) and returns a no-argument callable; ``bind`` runs outside the timed region but
inside the wall time that decides when to stop. The stopping rule follows MLPerf LoadGen: a run needs both
a minimum number of samples and a minimum duration, so fast models get stable tail percentiles and slow
ones are not cut short; optional maxima bound runs on very slow targets.

Samples are handed out in chunks while the run goes on (``on_samples``) so a caller can append them to a
progress file, and whatever was measured before a failure is handed out before the exception propagates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from edgeai_core.errors import ParameterError
from edgeai_core.params import Param, ParamSet
from edgeai_core.profiling import PROFILE_PARAMS
from edgeai_core.progress import Progress, progress_total
from edgeai_core.scenarios import SCENARIO_PARAMS
from edgeai_core.stats import latency_stats

log = logging.getLogger(__name__)

#: Phase names passed to ``on_samples``.
WARMUP = "warmup"
MEASURE = "measure"

#: Stop reasons of :class:`BenchmarkResult`.
STOP_MIN_REACHED = "min_count_and_duration"
STOP_MAX_DURATION = "max_duration"
STOP_MAX_COUNT = "max_count"
STOP_REASONS = (STOP_MIN_REACHED, STOP_MAX_DURATION, STOP_MAX_COUNT)

#: Samples are handed to ``on_samples`` at least this often (seconds) and in chunks of at most this many.
FLUSH_INTERVAL_S = 0.5
FLUSH_MAX_SAMPLES = 10_000
#: ``progress.update`` is called at most this often (seconds).
PROGRESS_INTERVAL_S = 0.1

BENCHMARK_PARAMS = ParamSet(
    (
        Param(
            "warmup",
            "int",
            default=10,
            minimum=0,
            help="calls before measuring (caches, lazy init, clock ramp-up); timed but kept out of the stats",
        ),
        Param(
            "min_count",
            "int",
            default=100,
            minimum=1,
            help="measure at least this many calls (tail percentiles need many samples)",
        ),
        Param(
            "min_duration_s",
            "float",
            default=1.0,
            minimum=0,
            help="and measure for at least this many seconds, so clock ramps and throttling show",
        ),
        Param(
            "max_duration_s",
            "float",
            default=None,
            minimum=0,
            help="stop after this many seconds (> 0) even if min_count was not reached",
        ),
        Param(
            "max_count",
            "int",
            default=None,
            minimum=1,
            help="stop after this many calls even if min_duration_s has not passed",
        ),
        Param("batch_size", "int", default=1, minimum=1, help="inputs per call, for throughput"),
        Param(
            "cpu_affinity",
            "list[int]",
            default=None,
            minimum=0,
            help="CPU ids the timed runtime is pinned to (on the target for remote runs); default: unpinned",
        ),
        Param(
            "repeat",
            "int",
            default=1,
            minimum=1,
            help="independent repetitions, each with its own warm-up; results keep every sample",
        ),
        *SCENARIO_PARAMS,
        *PROFILE_PARAMS,  # the per-layer profile pass after the timed run (edgeai_core.profiling)
    )
)


@dataclass(frozen=True)
class BenchmarkSettings:
    """How long to warm up and measure. Values are checked on construction, so a settings object is valid."""

    warmup: int = 10
    min_count: int = 100
    min_duration_s: float = 1.0
    max_duration_s: float | None = None
    max_count: int | None = None
    batch_size: int = 1
    cpu_affinity: list[int] | None = None
    repeat: int = 1
    # scenarios (edgeai_core.scenarios): single-stream is this module's loop; offline and server run after it
    scenario: str = "single-stream"
    concurrency: int = 1
    target_qps: float | None = None
    latency_bound_ms: float | None = None
    latency_percentile: float = 99.0
    qps_search: bool = False
    seed: int | None = None
    profile: bool = False
    profile_runs: int = 20

    def __post_init__(self) -> None:
        values = _check(self.to_json(), "benchmark")
        for name, value in values.items():  # normalized types, e.g. min_duration_s=2 becomes 2.0
            object.__setattr__(self, name, value)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "benchmark") -> BenchmarkSettings:
        """Build from a config table or CLI options; errors name the field as ``<where>.<name>``."""
        return cls(**_check(values, where))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate each field against :data:`BENCHMARK_PARAMS`, then the relations between fields."""
    checked = BENCHMARK_PARAMS.validate(values, where)
    prefix = f"{where}." if where else ""
    if checked["cpu_affinity"] is not None:
        if not checked["cpu_affinity"]:
            raise ParameterError(
                prefix + "cpu_affinity", "needs at least one CPU id (leave it out to run unpinned)"
            )
        checked["cpu_affinity"] = sorted(set(checked["cpu_affinity"]))
    max_count, max_duration = checked["max_count"], checked["max_duration_s"]
    if max_count is not None and max_count < checked["min_count"]:
        raise ParameterError(
            prefix + "max_count", f"must be >= min_count ({checked['min_count']}), got {max_count}"
        )
    if max_duration is not None:
        if max_duration <= 0:
            raise ParameterError(prefix + "max_duration_s", f"must be a number > 0, got {max_duration:g}")
        if max_duration < checked["min_duration_s"]:
            raise ParameterError(
                prefix + "max_duration_s",
                f"must be >= min_duration_s ({checked['min_duration_s']:g}), got {max_duration:g}",
            )
    from edgeai_core.scenarios import ScenarioSettings

    ScenarioSettings.from_benchmark(checked, where)
    return checked


@dataclass
class BenchmarkResult:
    """The raw samples of one benchmark run (nanoseconds, in measurement order) and why it stopped."""

    settings: BenchmarkSettings
    warmup_ns: list[int]
    samples_ns: list[int]
    stop_reason: str
    wall_s: float
    #: ``benchmark.repeat`` > 1: (warm-up count, sample count) of each repetition, in order
    repetitions: list[tuple[int, int]] | None = None
    #: the CPUs the timed runtime was pinned to (``benchmark.cpu_affinity``), as applied
    cpu_affinity: list[int] | None = None

    def stats(self) -> dict[str, Any]:
        return latency_stats(self.samples_ns)

    def throughput_per_s(self) -> float | None:
        """Inputs per second of pure inference time (binding excluded); None if no time was measured."""
        total_ns = sum(self.samples_ns)
        if total_ns <= 0:
            return None
        return self.settings.batch_size * len(self.samples_ns) / (total_ns / 1e9)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": "ns",
            "batch_size": self.settings.batch_size,
            "settings": self.settings.to_json(),
            "warmup": {"count": len(self.warmup_ns), "samples_ns": list(self.warmup_ns)},
            "samples_ns": list(self.samples_ns),
            "stats": self.stats(),
            "stop_reason": self.stop_reason,
            "wall_s": self.wall_s,
            "throughput_per_s": self.throughput_per_s(),
            **self._controls_json(),
        }

    def _controls_json(self) -> dict[str, Any]:
        from edgeai_core.control import controls_json

        return controls_json(self)


def run_benchmark(
    bind: Callable[[int], Callable[[], object]],
    settings: BenchmarkSettings,
    *,
    progress: Progress | None = None,
    on_samples: Callable[[str, list[int]], None] | None = None,
) -> BenchmarkResult:
    """Warm up, then measure calls of ``bind(i)()`` until ``settings`` say stop.

    ``i`` counts every call from 0, warm-up included. Measuring stops when ``min_count`` samples were taken
    and ``min_duration_s`` passed, or at ``max_count`` samples, or after ``max_duration_s``, durations being
    wall time since the measurement started (binding included). ``on_samples(phase, samples)`` gets every
    sample exactly once, in order, in non-empty chunks (:data:`WARMUP` then :data:`MEASURE`); an exception
    from ``bind`` or the callable propagates unchanged after the samples taken so far were handed out.
    """
    warmup_ns: list[int] = []
    samples_ns: list[int] = []
    if settings.warmup:
        _run_phase(
            bind,
            0,
            warmup_ns,
            WARMUP,
            progress,
            on_samples,
            min_count=settings.warmup,
            min_ns=0,
            max_count=None,
            max_ns=None,
        )
    max_ns = None if settings.max_duration_s is None else int(settings.max_duration_s * 1e9)
    reason, wall_ns = _run_phase(
        bind,
        len(warmup_ns),
        samples_ns,
        MEASURE,
        progress,
        on_samples,
        min_count=settings.min_count,
        min_ns=int(settings.min_duration_s * 1e9),
        max_count=settings.max_count,
        max_ns=max_ns,
    )
    log.debug("benchmark stopped (%s) after %d samples in %.3f s", reason, len(samples_ns), wall_ns / 1e9)
    return BenchmarkResult(settings, warmup_ns, samples_ns, reason, wall_ns / 1e9)


def _run_phase(
    bind: Callable[[int], Callable[[], object]],
    first_index: int,
    samples: list[int],
    phase: str,
    progress: Progress | None,
    on_samples: Callable[[str, list[int]], None] | None,
    *,
    min_count: int,
    min_ns: int,
    max_count: int | None,
    max_ns: int | None,
) -> tuple[str, int]:
    """Time calls into ``samples`` until the stopping rule holds; return (stop reason, wall ns)."""
    clock = time.perf_counter_ns
    append = samples.append
    never = 1 << 62  # an unlimited bound as a plain int keeps the loop's comparisons cheap
    count_cap = never if max_count is None else max_count
    time_cap = never if max_ns is None else max_ns
    flush_ns, progress_ns = int(FLUSH_INTERVAL_S * 1e9), int(PROGRESS_INTERVAL_S * 1e9)
    flushed = 0  # samples handed to on_samples so far

    def flush() -> None:
        nonlocal flushed
        if on_samples is not None and len(samples) > flushed:
            chunk = samples[flushed:]
            flushed = len(samples)
            on_samples(phase, chunk)

    detail = "warm-up" if phase == WARMUP else "measuring"
    wanted = f"{min_count} samples" + (f", {min_ns / 1e9:g} s" if min_ns else "")

    def report(count: int, elapsed_ns: int) -> None:
        # done/total follow both stopping rules (progress.stopping_fraction): never 100 % while either
        # minimum is still running, and the ETA is that of the rule that binds
        if progress is None:
            return
        total = progress_total(
            count,
            elapsed_ns / 1e9,
            min_count=min_count,
            min_duration_s=min_ns / 1e9,
            max_count=max_count,
            max_duration_s=None if max_ns is None else max_ns / 1e9,
        )
        progress.update(count, total, f"{detail}: {elapsed_ns / 1e9:.1f} s (at least {wanted})")

    start = clock()
    next_flush = start + flush_ns
    next_progress = start + progress_ns
    next_tick = min(next_flush, next_progress)  # wall time of the next housekeeping
    flush_at = FLUSH_MAX_SAMPLES  # sample count of the next forced flush
    i = 0
    reason = STOP_MIN_REACHED
    t1 = start
    try:
        while True:
            fn = bind(first_index + i)
            t0 = clock()
            fn()
            t1 = clock()
            append(t1 - t0)
            i += 1
            elapsed = t1 - start
            if i >= min_count and elapsed >= min_ns:
                break
            if i >= count_cap:
                reason = STOP_MAX_COUNT
                break
            if elapsed >= time_cap:
                reason = STOP_MAX_DURATION
                break
            if t1 >= next_tick or i >= flush_at:
                if t1 >= next_flush or i >= flush_at:
                    flush()
                    next_flush = t1 + flush_ns
                    flush_at = i + FLUSH_MAX_SAMPLES
                if progress is not None and t1 >= next_progress:
                    report(i, elapsed)
                    next_progress = t1 + progress_ns
                next_tick = min(next_flush, next_progress)
    except BaseException:
        try:
            flush()
        except Exception:
            log.exception("could not hand out the %d %s samples taken before a failure", i - flushed, phase)
        raise
    flush()
    report(i, t1 - start)
    return reason, t1 - start
