"""Scenarios (edgeai_core.scenarios): early-stopping bounds, the seeded Poisson schedule, the thread issuer and
the settings; no timing assertions (only what holds however slow the machine is)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
import pytest

from edgeai_core.benchmark import BenchmarkSettings
from edgeai_core.errors import ParameterError
from edgeai_core.scenarios import (
    ScenarioSettings,
    ThreadIssuer,
    binomial_cdf,
    measure,
    min_samples,
    percentile_upper_bound,
    poisson_schedule,
    run_offline,
    run_scenario,
    run_server,
    upper_bound_rank,
)

# -- early stopping ----------------------------------------------------------------------------------------


def test_min_samples_by_hand() -> None:
    # the smallest n with 1 - p**n >= 0.99: 0.9**44 = 0.00969 (0.9**43 = 0.01077); 0.99**459 = 0.00995
    assert min_samples(90) == 44
    assert min_samples(99) == 459
    assert min_samples(99.9) == 4603
    assert min_samples(50) == 7  # 0.5**7 = 0.0078, 0.5**6 = 0.0156
    assert min_samples(50, confidence=0.75) == 2  # 1 - 0.25 = 0.75


def test_binomial_cdf_by_hand() -> None:
    np.testing.assert_allclose(binomial_cdf(2, 0.5), [0.25, 0.75, 1.0])
    np.testing.assert_allclose(binomial_cdf(3, 0.1), [0.729, 0.972, 0.999, 1.0])


def test_upper_bound_rank_by_hand() -> None:
    # n = 2, p = 0.5: P(X <= 0) = 0.25, P(X <= 1) = 0.75, so rank 1 bounds at 0.25 and rank 2 at 0.75
    assert upper_bound_rank(2, 50, confidence=0.2) == 1
    assert upper_bound_rank(2, 50, confidence=0.75) == 2
    assert upper_bound_rank(2, 50, confidence=0.8) is None
    # a p99 claim at 99 % needs 459 samples, and then only the largest bounds it
    assert upper_bound_rank(459, 99) == 459
    assert upper_bound_rank(458, 99) is None
    assert upper_bound_rank(44, 90) == 44 and upper_bound_rank(43, 90) is None
    assert upper_bound_rank(0, 90) is None


def test_percentile_upper_bound_reports_the_order_statistic() -> None:
    samples = list(range(1000, 0, -1))  # 1..1000 in reverse: the function sorts
    bound = percentile_upper_bound(samples, 90)
    rank = upper_bound_rank(1000, 90)
    assert rank is not None and rank > 900  # the bound lies above the percentile itself
    assert bound.value_ns == 900 and bound.upper_bound_rank == rank and bound.upper_bound_ns == rank
    assert bound.min_samples == 44 and bound.enough_samples and bound.count == 1000
    few = percentile_upper_bound(samples[:100], 99)
    assert few.upper_bound_ns is None and not few.enough_samples and few.to_json()["min_samples"] == 459


# -- the seeded schedule -------------------------------------------------------------------------------------


def test_poisson_schedule_is_seeded_and_has_the_requested_rate() -> None:
    qps, count = 500.0, 20_000
    first = poisson_schedule(qps, count, seed=7)
    np.testing.assert_array_equal(first, poisson_schedule(qps, count, seed=7))
    assert not np.array_equal(first, poisson_schedule(qps, count, seed=8))
    assert len(first) == count and np.all(np.diff(first) >= 0) and first[0] > 0
    gaps = np.diff(np.concatenate(([0], first))) / 1e9
    # exponential gaps: mean 1/qps and standard deviation 1/qps (the mean's own error is 0.7 % at n = 20000)
    assert gaps.mean() == pytest.approx(1 / qps, rel=0.05)
    assert gaps.std() == pytest.approx(1 / qps, rel=0.05)


class Recorder:
    """A bind(i) whose calls record which request ran, when it was issued, and on which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        self.active = 0
        self.most_active = 0

    def bind(self, i: int) -> Any:
        def call() -> int:
            with self.lock:
                self.calls.append((i, time.perf_counter_ns()))
                self.active += 1
                self.most_active = max(self.most_active, self.active)
            time.sleep(0)
            with self.lock:
                self.active -= 1
            return i * i

        return call


def test_server_requests_follow_the_seeded_schedule() -> None:
    settings = ScenarioSettings(
        scenario="server", target_qps=2000.0, concurrency=2, seed=3, min_count=300, min_duration_s=0.0
    )
    recorder = Recorder()
    issuer = ThreadIssuer(recorder.bind, thread_safe=True)
    run = run_server(issuer, settings, 2000.0)
    count = settings.server_count(2000.0)
    assert count == 459  # min_samples(99) > min_count: the p99 claim gets its early-stopping bound
    assert run.count == count and sorted(i for i, _ in recorder.calls) == list(range(count))
    assert run.offered_qps == 2000.0 and run.bound.count == count and run.bound.upper_bound_ns is not None


def test_no_request_is_issued_before_its_scheduled_arrival() -> None:
    recorder = Recorder()
    issuer = ThreadIssuer(recorder.bind, thread_safe=True)
    arrivals = poisson_schedule(5000.0, 200, seed=1)
    timing = issuer.run(200, 4, arrivals)
    issued = dict(recorder.calls)
    assert len(issued) == 200
    for i in range(200):
        assert issued[i] >= timing.start_ns + arrivals[i]
        assert timing.issued_ns[i] >= timing.start_ns + arrivals[i]
        assert timing.done_ns[i] >= timing.issued_ns[i]


def test_offline_runs_the_exact_count_with_correct_outputs() -> None:
    outputs: dict[int, int] = {}
    lock = threading.Lock()

    def bind(i: int) -> Any:
        def call() -> None:
            value = int(np.square(np.int64(i)))
            with lock:
                assert i not in outputs, f"request {i} ran twice"
                outputs[i] = value

        return call

    issuer = ThreadIssuer(bind, thread_safe=True)
    run = measure(issuer, 1000, 8, batch_size=4)
    assert run.count == 1000 and sorted(outputs) == list(range(1000))
    assert all(outputs[i] == i * i for i in range(1000))
    assert run.inferences_per_s is not None and run.queries_per_s is not None
    assert run.inferences_per_s == pytest.approx(4 * run.queries_per_s)


def test_a_runtime_that_is_not_thread_safe_is_called_by_one_thread_at_a_time() -> None:
    recorder = Recorder()
    issuer = ThreadIssuer(recorder.bind, thread_safe=False)
    assert issuer.mode == "serialized"
    issuer.run(300, 8, None)
    assert recorder.most_active == 1 and len(recorder.calls) == 300
    assert ThreadIssuer(recorder.bind, thread_safe=True).mode == "threads"


def test_a_failing_request_propagates() -> None:
    def bind(i: int) -> Any:
        def call() -> None:
            if i == 17:
                raise RuntimeError("request 17 failed")

        return call

    with pytest.raises(RuntimeError, match="request 17 failed"):
        ThreadIssuer(bind, thread_safe=True).run(100, 4, None)


def test_offline_and_search_sections_have_their_fields() -> None:
    issuer = ThreadIssuer(Recorder().bind, thread_safe=True)
    offline = ScenarioSettings(scenario="offline", concurrency=4, min_count=200, min_duration_s=0.0)
    assert run_offline(issuer, offline).count == 200
    section = run_scenario(
        issuer,
        ScenarioSettings(
            scenario="server",
            qps_search=True,
            latency_bound_ms=1000.0,
            concurrency=2,
            min_count=50,
            min_duration_s=0.0,
            max_count=60,
        ),
    )
    assert section["scenario"] == "server" and section["mode"] == "threads"
    search = section["search"]
    # a bound of one second: every tried QPS meets it, so the search climbs to its last midpoint
    assert search["steps"] == 7 and len(section["runs"]) == 8
    assert search["best_qps"] == pytest.approx(
        search["upper_qps"] * (1 - 2**-7) + search["lower_qps"] * 2**-7
    )
    assert all(run["bound_met"] is True and run["count"] == 60 for run in section["runs"])


# -- settings ------------------------------------------------------------------------------------------------


def test_scenario_settings_are_checked_with_the_benchmark() -> None:
    with pytest.raises(ParameterError, match="target_qps") as info:
        BenchmarkSettings.from_mapping({"scenario": "server"})
    assert info.value.field == "benchmark.target_qps"
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings.from_mapping({"scenario": "server", "qps_search": True})
    assert info.value.field == "benchmark.latency_bound_ms"
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings.from_mapping({"scenario": "batch"})
    assert info.value.field == "benchmark.scenario"
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings.from_mapping({"latency_percentile": 100})
    assert info.value.field == "benchmark.latency_percentile"
    settings = BenchmarkSettings.from_mapping({"scenario": "offline", "concurrency": "8"})
    assert settings.scenario == "offline" and settings.concurrency == 8


def test_server_count_honours_the_maxima() -> None:
    settings = ScenarioSettings(scenario="server", target_qps=100.0, min_count=10, min_duration_s=30.0)
    assert settings.server_count(100.0) == 3000
    assert ScenarioSettings(min_count=10, min_duration_s=30.0, max_count=500).server_count(100.0) == 500
    capped = ScenarioSettings(min_count=10, min_duration_s=30.0, max_duration_s=40.0)
    assert capped.server_count(10.0) == 400 and math.isclose(capped.latency_percentile, 99.0)
