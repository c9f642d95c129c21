"""Load scenarios in the manner of MLPerf LoadGen: ``single-stream``, ``offline`` and ``server``.

``single-stream`` is the latency benchmark of :mod:`edgeai_core.benchmark` (one request at a time). The
other two run after it, on the same target and inputs, and fill the ``scenario`` section of results.json:

``offline``
    Every request is available at once; ``concurrency`` of them are in flight at any time (worker threads
    locally, pipelined requests over the wire protocol on a remote target). Reports inferences per second
    and each request's latency from the moment it was issued.

``server``
    Requests arrive as a Poisson process at ``target_qps``: exponential inter-arrival times drawn with
    ``numpy.random.default_rng(seed)``, so the same seed gives the same schedule. The loop is open: a request
    is issued at its scheduled arrival if a slot (of ``concurrency``) is free, else as soon as one frees up,
    and its latency is counted from the scheduled arrival, so queueing counts. The result says whether the
    latency at ``latency_percentile`` stayed within ``latency_bound_ms``. With ``qps_search`` the highest
    such QPS is found by bisection (:func:`search_qps`).

Percentile claims carry an early-stopping bound (:func:`percentile_upper_bound`), as LoadGen's early
stopping does: with ``n`` samples, the number at or below the true ``p``-quantile ``q_p`` is
``Binomial(n, p)``, so the ``k``-th smallest sample ``x_(k)`` satisfies

    P(q_p <= x_(k)) = P(Binomial(n, p) <= k - 1) = BinomCDF(k - 1; n, p).

The upper confidence bound at confidence ``C`` (0.99) is ``x_(k)`` for the smallest ``k`` with
``BinomCDF(k - 1; n, p) >= C``; when even ``k = n`` does not reach ``C`` there is no bound, and the
minimum sample count for a claim is the smallest ``n`` with ``1 - p**n >= C``, that is
``ceil(ln(1 - C) / ln(p))`` (44 for p90, 459 for p99, 4603 for p99.9 at C = 0.99).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgeai_core.errors import ParameterError
from edgeai_core.params import Param
from edgeai_core.stats import latency_stats, nearest_rank

log = logging.getLogger(__name__)

SINGLE_STREAM = "single-stream"
OFFLINE = "offline"
SERVER = "server"
SCENARIOS = (SINGLE_STREAM, OFFLINE, SERVER)

#: Confidence of the early-stopping percentile bounds.
CONFIDENCE = 0.99
#: Bisection steps of the QPS search: the answer is within ``upper / 2**SEARCH_STEPS`` of the true limit.
SEARCH_STEPS = 7
#: The QPS search's lower bound, as a share of its upper bound (the measured offline throughput).
SEARCH_LOW_SHARE = 1 / 64

#: How requests run concurrently: worker threads sharing the runtime, worker threads taking turns on a
#: runtime that is not thread-safe, or requests pipelined over the wire protocol.
MODE_THREADS, MODE_SERIALIZED, MODE_PIPELINED = "threads", "serialized", "pipelined"


#: The scenario parameters of ``[benchmark]`` (part of ``edgeai_core.benchmark.BENCHMARK_PARAMS``).
SCENARIO_PARAMS = (
    Param(
        "scenario",
        "choice",
        default=SINGLE_STREAM,
        choices=SCENARIOS,
        help="single-stream (one request at a time), offline (throughput with `concurrency` in flight) or "
        "server (Poisson arrivals at target_qps); offline and server run after the single-stream benchmark",
    ),
    Param(
        "concurrency",
        "int",
        default=1,
        minimum=1,
        help="requests in flight in the offline and server scenarios (threads locally, pipelined remotely)",
    ),
    Param("target_qps", "float", default=None, minimum=0, help="server scenario: mean arrival rate"),
    Param(
        "latency_bound_ms",
        "float",
        default=None,
        minimum=0,
        help="server scenario: the latency the percentile must stay within",
    ),
    Param(
        "latency_percentile",
        "float",
        default=99.0,
        minimum=0,
        help="server scenario: the percentile held to latency_bound_ms (and bounded by early stopping)",
    ),
    Param(
        "qps_search",
        "bool",
        default=False,
        help="server scenario: find the highest QPS meeting the latency bound (bisection below the offline "
        "throughput)",
    ),
    Param(
        "seed",
        "int",
        default=None,
        minimum=0,
        help="seed of the server's arrival schedule (default: the run's)",
    ),
)


# -- statistics ---------------------------------------------------------------------------------------------


def min_samples(percentile: float, confidence: float = CONFIDENCE) -> int:
    """The fewest samples for which the largest one bounds the ``percentile`` at ``confidence``."""
    p = percentile / 100.0
    if not 0.0 < p < 1.0:
        raise ValueError(f"percentile must be between 0 and 100 exclusive, got {percentile}")
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(p) - 1e-12))


def binomial_cdf(n: int, p: float) -> np.ndarray:
    """``cdf[k] = P(Binomial(n, p) <= k)`` for k = 0..n (log-space pmf, so large n do not overflow)."""
    k = np.arange(n + 1, dtype=np.float64)
    ratios = np.log(np.arange(n, 0, -1, dtype=np.float64)) - np.log(np.arange(1, n + 1, dtype=np.float64))
    log_choose = np.concatenate(([0.0], np.cumsum(ratios)))
    with np.errstate(divide="ignore"):
        log_pmf = log_choose + k * math.log(p) + (n - k) * math.log1p(-p)
    cdf: np.ndarray = np.minimum(np.cumsum(np.exp(log_pmf)), 1.0)
    return cdf


def upper_bound_rank(n: int, percentile: float, confidence: float = CONFIDENCE) -> int | None:
    """The 1-based rank ``k`` whose sample bounds the ``percentile`` from above at ``confidence``, or None
    when ``n`` samples are too few (see the module's docstring)."""
    if n <= 0:
        return None
    p = percentile / 100.0
    cdf = binomial_cdf(n, p)  # cdf[k - 1] = P(Binomial(n, p) <= k - 1)
    index = int(np.searchsorted(cdf[:n], confidence - 1e-12, side="left"))
    return index + 1 if index < n else None


@dataclass(frozen=True)
class PercentileBound:
    """A percentile with its early-stopping bound: the value, how many samples a claim needs, and the upper
    confidence bound the samples achieve (None when they are too few)."""

    percentile: float
    value_ns: int | None
    count: int
    min_samples: int
    confidence: float
    upper_bound_rank: int | None
    upper_bound_ns: int | None

    @property
    def enough_samples(self) -> bool:
        return self.upper_bound_ns is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "percentile": self.percentile,
            "value_ns": self.value_ns,
            "count": self.count,
            "min_samples": self.min_samples,
            "confidence": self.confidence,
            "upper_bound_rank": self.upper_bound_rank,
            "upper_bound_ns": self.upper_bound_ns,
            "enough_samples": self.enough_samples,
        }


def percentile_upper_bound(
    samples_ns: Sequence[int] | np.ndarray, percentile: float, confidence: float = CONFIDENCE
) -> PercentileBound:
    """The nearest-rank ``percentile`` of ``samples_ns`` and its early-stopping upper bound."""
    ordered = np.sort(np.asarray(samples_ns, dtype=np.int64))
    n = len(ordered)
    rank = upper_bound_rank(n, percentile, confidence)
    return PercentileBound(
        percentile=float(percentile),
        value_ns=int(nearest_rank(ordered.tolist(), percentile)) if n else None,
        count=n,
        min_samples=min_samples(percentile, confidence),
        confidence=confidence,
        upper_bound_rank=rank,
        upper_bound_ns=None if rank is None else int(ordered[rank - 1]),
    )


def poisson_schedule(qps: float, count: int, seed: int) -> np.ndarray:
    """Arrival times (ns from the start, ascending) of ``count`` requests of a Poisson process at ``qps``."""
    if qps <= 0:
        raise ValueError(f"qps must be > 0, got {qps}")
    gaps = np.random.default_rng(seed).exponential(1e9 / qps, count)
    schedule: np.ndarray = np.cumsum(gaps).astype(np.int64)
    return schedule


# -- settings -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioSettings:
    """The scenario parameters of ``[benchmark]`` with the stopping rule they share with it."""

    scenario: str = SINGLE_STREAM
    concurrency: int = 1
    target_qps: float | None = None
    latency_bound_ms: float | None = None
    latency_percentile: float = 99.0
    qps_search: bool = False
    seed: int = 0
    min_count: int = 100
    min_duration_s: float = 1.0
    max_count: int | None = None
    max_duration_s: float | None = None

    @classmethod
    def from_benchmark(cls, values: dict[str, Any], where: str = "benchmark") -> ScenarioSettings:
        """From validated benchmark settings (``BenchmarkSettings.to_json()``); checks the relations."""
        names = cls.__dataclass_fields__
        settings = cls(**{k: v for k, v in values.items() if k in names and v is not None})
        settings.check(where)
        return settings

    def check(self, where: str = "benchmark") -> None:
        prefix = f"{where}." if where else ""
        if not 0 < self.latency_percentile < 100:
            raise ParameterError(
                prefix + "latency_percentile", f"must be between 0 and 100, got {self.latency_percentile:g}"
            )
        if self.scenario != SERVER:
            return
        if self.qps_search:
            if self.latency_bound_ms is None:
                raise ParameterError(
                    prefix + "latency_bound_ms", "qps_search needs a latency bound to search against"
                )
        elif self.target_qps is None:
            raise ParameterError(
                prefix + "target_qps", "the server scenario needs target_qps (or qps_search = true)"
            )

    def server_count(self, qps: float) -> int:
        """Requests of a server run at ``qps``: enough for min_count, min_duration_s and an early-stopping
        bound of the percentile (:func:`min_samples`), within the maxima."""
        count = max(
            self.min_count, min_samples(self.latency_percentile), math.ceil(qps * self.min_duration_s)
        )
        if self.max_count is not None:
            count = min(count, self.max_count)
        if self.max_duration_s is not None:
            count = min(count, max(1, math.floor(qps * self.max_duration_s)))
        return count

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "target_qps": self.target_qps,
            "latency_bound_ms": self.latency_bound_ms,
            "latency_percentile": self.latency_percentile,
            "qps_search": self.qps_search,
            "seed": self.seed,
        }


# -- issuing requests -------------------------------------------------------------------------------------


@dataclass
class Timing:
    """When each request was issued and completed (ns, ``perf_counter_ns``), and when the run began."""

    start_ns: int
    issued_ns: np.ndarray
    done_ns: np.ndarray


class Issuer(Protocol):
    """Runs ``count`` requests with at most ``concurrency`` in flight, each not before its arrival."""

    mode: str

    def run(self, count: int, concurrency: int, arrivals_ns: np.ndarray | None) -> Timing: ...


class ThreadIssuer:
    """Worker threads calling ``bind(i)()``; a runtime that is not thread-safe is called by one at a time
    (``mode`` says which)."""

    def __init__(self, bind: Callable[[int], Callable[[], object]], *, thread_safe: bool) -> None:
        self.bind = bind
        self.mode = MODE_THREADS if thread_safe else MODE_SERIALIZED
        self._turn: threading.Lock | None = None if thread_safe else threading.Lock()

    def run(self, count: int, concurrency: int, arrivals_ns: np.ndarray | None) -> Timing:
        issued = np.zeros(count, dtype=np.int64)
        done = np.zeros(count, dtype=np.int64)
        clock, bind, turn = time.perf_counter_ns, self.bind, self._turn
        claim = threading.Lock()
        state = {"next": 0}
        failures: list[BaseException] = []
        start = clock()

        def worker() -> None:
            while not failures:
                with claim:
                    i = state["next"]
                    state["next"] = i + 1
                if i >= count:
                    return
                if arrivals_ns is not None:
                    _sleep_until(start + int(arrivals_ns[i]))
                try:
                    if turn is None:
                        fn = bind(i)
                        issued[i] = clock()
                        fn()
                    else:
                        with turn:
                            fn = bind(i)
                            issued[i] = clock()
                            fn()
                except BaseException as exc:
                    failures.append(exc)
                    return
                done[i] = clock()

        threads = [
            threading.Thread(target=worker, name=f"edgeai-scenario-{w}", daemon=True)
            for w in range(max(1, min(concurrency, count)))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return Timing(start, issued, done)


def _sleep_until(when_ns: int) -> None:
    """Sleep until ``perf_counter_ns() >= when_ns`` (the last stretch spins on the GIL-friendly sleep(0))."""
    while True:
        left = when_ns - time.perf_counter_ns()
        if left <= 0:
            return
        time.sleep(left / 1e9 if left > 2_000_000 else 0)


# -- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioRun:
    """One offline run or one server run at an offered QPS."""

    count: int
    batch_size: int
    duration_s: float
    latency_ns: dict[str, Any]
    bound: PercentileBound
    offered_qps: float | None = None
    latency_bound_ms: float | None = None

    @property
    def inferences_per_s(self) -> float | None:
        return self.count * self.batch_size / self.duration_s if self.duration_s > 0 else None

    @property
    def queries_per_s(self) -> float | None:
        return self.count / self.duration_s if self.duration_s > 0 else None

    @property
    def bound_met(self) -> bool | None:
        """Whether the latency at the percentile stayed within the bound (None: no bound was given)."""
        if self.latency_bound_ms is None or self.bound.value_ns is None:
            return None
        return self.bound.value_ns <= self.latency_bound_ms * 1e6

    @property
    def bound_met_with_confidence(self) -> bool | None:
        """Whether even the early-stopping upper bound of the percentile stayed within the latency bound
        (None: no bound given, or too few samples for an upper bound)."""
        if self.latency_bound_ms is None or self.bound.upper_bound_ns is None:
            return None
        return self.bound.upper_bound_ns <= self.latency_bound_ms * 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "offered_qps": self.offered_qps,
            "count": self.count,
            "batch_size": self.batch_size,
            "duration_s": self.duration_s,
            "inferences_per_s": self.inferences_per_s,
            "queries_per_s": self.queries_per_s,
            "latency_ns": self.latency_ns,
            "percentile": self.bound.to_json(),
            "latency_bound_ms": self.latency_bound_ms,
            "bound_met": self.bound_met,
            "bound_met_with_confidence": self.bound_met_with_confidence,
        }


def measure(
    issuer: Issuer,
    count: int,
    concurrency: int,
    *,
    batch_size: int = 1,
    percentile: float = 99.0,
    arrivals_ns: np.ndarray | None = None,
    offered_qps: float | None = None,
    latency_bound_ms: float | None = None,
) -> ScenarioRun:
    """Run ``count`` requests through ``issuer`` and summarize them. Latency counts from the scheduled
    arrival where there is a schedule (server), else from the moment each request was issued (offline)."""
    timing = issuer.run(count, concurrency, arrivals_ns)
    since = timing.issued_ns if arrivals_ns is None else timing.start_ns + arrivals_ns[:count]
    latency = np.maximum(timing.done_ns - since, 0)
    first = timing.start_ns if arrivals_ns is not None else int(timing.issued_ns.min())
    duration = (int(timing.done_ns.max()) - first) / 1e9 if count else 0.0
    return ScenarioRun(
        count=count,
        batch_size=batch_size,
        duration_s=duration,
        latency_ns=latency_stats(latency.tolist()),
        bound=percentile_upper_bound(latency, percentile),
        offered_qps=offered_qps,
        latency_bound_ms=latency_bound_ms,
    )


def offline_count(settings: ScenarioSettings, probe: ScenarioRun | None = None) -> int:
    """Requests of an offline run: min_count, and enough for min_duration_s at the probe's rate."""
    count = settings.min_count
    if probe is not None and probe.queries_per_s:
        count = max(count, math.ceil(probe.queries_per_s * settings.min_duration_s))
        if settings.max_duration_s is not None:
            count = min(count, max(1, math.floor(probe.queries_per_s * settings.max_duration_s)))
    if settings.max_count is not None:
        count = min(count, settings.max_count)
    return max(1, count)


def run_offline(issuer: Issuer, settings: ScenarioSettings, batch_size: int = 1) -> ScenarioRun:
    """A short probe sizes the run, then ``concurrency`` requests stay in flight until the count is done."""
    probe_count = max(settings.concurrency * 4, min(settings.min_count, 64))
    probe = measure(issuer, probe_count, settings.concurrency, batch_size=batch_size)
    return measure(
        issuer,
        offline_count(settings, probe),
        settings.concurrency,
        batch_size=batch_size,
        percentile=settings.latency_percentile,
    )


def run_server(issuer: Issuer, settings: ScenarioSettings, qps: float, batch_size: int = 1) -> ScenarioRun:
    """One open-loop run at ``qps`` on the seeded Poisson schedule."""
    count = settings.server_count(qps)
    return measure(
        issuer,
        count,
        settings.concurrency,
        batch_size=batch_size,
        percentile=settings.latency_percentile,
        arrivals_ns=poisson_schedule(qps, count, settings.seed),
        offered_qps=qps,
        latency_bound_ms=settings.latency_bound_ms,
    )


@dataclass(frozen=True)
class QpsSearch:
    """The bisection of :func:`search_qps`: its bounds, and the highest QPS that met the bound (or None)."""

    lower_qps: float
    upper_qps: float
    steps: int
    best_qps: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "lower_qps": self.lower_qps,
            "upper_qps": self.upper_qps,
            "steps": self.steps,
            "best_qps": self.best_qps,
            "method": "bisection between the offline throughput's 1/64 and the offline throughput",
        }


def search_qps(
    issuer: Issuer, settings: ScenarioSettings, upper_qps: float, batch_size: int = 1
) -> tuple[QpsSearch, list[ScenarioRun]]:
    """The highest QPS whose latency percentile meets the bound, by bisection.

    The upper bound is the offline throughput in queries per second (no arrival rate above what the target
    completes with every request available can be served for long); the lower bound is 1/64 of it. The
    lower bound is tried first: when it fails, no QPS in the range meets the bound and the search stops.
    Then :data:`SEARCH_STEPS` bisection steps each run the server scenario at the midpoint and keep the half
    where the limit lies.
    """
    low, high = upper_qps * SEARCH_LOW_SHARE, upper_qps
    runs = [run_server(issuer, settings, low, batch_size)]
    if not runs[0].bound_met:
        return QpsSearch(low, high, 0, None), runs
    best = low
    for _ in range(SEARCH_STEPS):
        mid = (low + high) / 2
        run = run_server(issuer, settings, mid, batch_size)
        runs.append(run)
        if run.bound_met:
            low = best = mid
        else:
            high = mid
    return QpsSearch(upper_qps * SEARCH_LOW_SHARE, upper_qps, SEARCH_STEPS, best), runs


def run_scenario(issuer: Issuer, settings: ScenarioSettings, batch_size: int = 1) -> dict[str, Any]:
    """The ``scenario`` section of results.json for an offline or server scenario."""
    search: QpsSearch | None = None
    if settings.scenario == OFFLINE:
        runs = [run_offline(issuer, settings, batch_size)]
    elif settings.qps_search:
        offline = run_offline(issuer, settings, batch_size)
        assert offline.queries_per_s is not None
        search, runs = search_qps(issuer, settings, offline.queries_per_s, batch_size)
    else:
        assert settings.target_qps is not None
        runs = [run_server(issuer, settings, settings.target_qps, batch_size)]
    from edgeai_core.document import ScenarioSection

    return ScenarioSection(
        scenario=settings.scenario,
        settings=settings.to_json(),
        mode=issuer.mode,
        runs=tuple(run.to_json() for run in runs),
        search=None if search is None else search.to_json(),
    ).to_json()


def run_for_target(
    recorder: Any, target: Any, settings: Any, pool: Sequence[Sequence[np.ndarray]], seed: int, progress: Any
) -> dict[str, Any]:
    """The runner's hook: run the benchmark settings' scenario on ``target`` over the benchmark's input
    ``pool`` (request ``i`` takes ``pool[i % len(pool)]``) and record the ``scenario`` section."""
    values = settings.to_json()
    if values.get("seed") is None:
        values["seed"] = seed
    scenario = ScenarioSettings.from_benchmark(values)
    issuer = target.issuer(lambda i: pool[i % len(pool)])
    section = run_scenario(issuer, scenario, settings.batch_size)
    recorder.set_scenario(section)
    progress.done(summary_line(section))
    return section


def summary_line(section: dict[str, Any]) -> str:
    """One line for the terminal: throughput, or the server's percentile against its bound."""
    runs = section.get("runs") or []
    if not runs:
        return f"{section.get('scenario')} scenario: no runs"
    if section.get("scenario") == OFFLINE:
        run = runs[-1]
        return (
            f"offline: {run['inferences_per_s']:.1f} inferences/s with {section['settings']['concurrency']} "
            f"in flight ({section['mode']})"
        )
    search = section.get("search")
    if search is not None:
        best = search.get("best_qps")
        return (
            "server: no QPS met the bound" if best is None else f"server: up to {best:.1f} QPS met the bound"
        )
    run = runs[-1]
    pct = run["percentile"]
    value = pct["value_ns"] / 1e6 if pct["value_ns"] is not None else float("nan")
    met = {True: "met", False: "missed", None: "no bound"}[run["bound_met"]]
    return f"server at {run['offered_qps']:g} QPS: p{pct['percentile']:g} {value:.3f} ms ({met})"


__all__ = [
    "CONFIDENCE",
    "OFFLINE",
    "SCENARIOS",
    "SERVER",
    "SINGLE_STREAM",
    "Issuer",
    "PercentileBound",
    "QpsSearch",
    "ScenarioRun",
    "ScenarioSettings",
    "ThreadIssuer",
    "Timing",
    "binomial_cdf",
    "measure",
    "min_samples",
    "percentile_upper_bound",
    "poisson_schedule",
    "run_for_target",
    "run_offline",
    "run_scenario",
    "run_server",
    "search_qps",
    "summary_line",
    "upper_bound_rank",
]
