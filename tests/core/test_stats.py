"""Tests of edgeai_core.stats: nearest-rank percentiles, the median confidence interval, latency_stats."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from edgeai_core.stats import (
    EXACT_CI_MAX_N,
    latency_stats,
    median_ci,
    median_ci_ranks,
    nearest_rank,
)


def coverage(n: int, j: int) -> Fraction:
    """Exact coverage of [x_(j), x_(n+1-j)] for the median: 1 - 2 P(Binomial(n, 1/2) <= j - 1)."""
    return 1 - Fraction(2 * sum(math.comb(n, k) for k in range(j)), 2**n)


# -- nearest_rank ---------------------------------------------------------------------------------


def test_nearest_rank_1_to_100() -> None:
    samples = list(range(1, 101))
    assert nearest_rank(samples, 50) == 50
    assert nearest_rank(samples, 90) == 90
    assert nearest_rank(samples, 99) == 99
    assert nearest_rank(samples, 99.5) == 100
    assert nearest_rank(samples, 100) == 100
    assert nearest_rank(samples, 0) == 1


def test_nearest_rank_ten_samples() -> None:
    samples = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert nearest_rank(samples, 90) == 90  # rank ceil(9.0) = 9
    assert nearest_rank(samples, 91) == 100  # rank ceil(9.1) = 10
    assert nearest_rank(samples, 50) == 50  # rank 5, not the interpolated 55
    assert nearest_rank(samples, 1) == 10


def test_nearest_rank_n10_p90_is_ninth_value() -> None:
    assert nearest_rank(list(range(1, 11)), 90) == 9


def test_nearest_rank_single_sample() -> None:
    assert nearest_rank([7], 0) == 7
    assert nearest_rank([7], 99) == 7


def test_nearest_rank_returns_plain_python_numbers() -> None:
    value = nearest_rank(np.arange(1, 11, dtype=np.int64), 90)
    assert value == 9 and type(value) is int


@pytest.mark.parametrize("q", [-0.1, 100.1, float("nan")])
def test_nearest_rank_rejects_q_out_of_range(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        nearest_rank([1, 2, 3], q)


def test_nearest_rank_rejects_empty() -> None:
    with pytest.raises(ValueError, match="no samples"):
        nearest_rank([], 50)


# -- median confidence interval -------------------------------------------------------------------


def test_median_ci_ranks_n100() -> None:
    assert median_ci_ranks(100) == (40, 61)
    # 40 is the largest rank whose interval reaches 95 %: 0.9648 vs 0.9431 for rank 41.
    assert coverage(100, 40) >= Fraction(95, 100) > coverage(100, 41)
    assert float(coverage(100, 40)) == pytest.approx(0.9648, abs=1e-4)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(6, (1, 6)), (7, (1, 7)), (10, (2, 9)), (20, (6, 15)), (50, (18, 33)), (1000, (469, 532))],
)
def test_median_ci_ranks_known_values(n: int, expected: tuple[int, int]) -> None:
    assert median_ci_ranks(n) == expected
    j = expected[0]
    assert coverage(n, j) >= Fraction(95, 100)
    assert j + 1 > (n + 1) // 2 or coverage(n, j + 1) < Fraction(95, 100)


@pytest.mark.parametrize("n", range(6, 120))
def test_median_ci_ranks_is_largest_rank_reaching_confidence(n: int) -> None:
    for confidence in (Fraction(90, 100), Fraction(95, 100), Fraction(99, 100)):
        j, high = median_ci_ranks(n, float(confidence))
        assert high == n + 1 - j
        if coverage(n, 1) < confidence:
            assert j == 1
            continue
        assert coverage(n, j) >= confidence
        assert j + 1 > (n + 1) // 2 or coverage(n, j + 1) < confidence


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_median_ci_too_few_samples_gives_range(n: int) -> None:
    samples = [float(v) for v in range(10, 10 + n)]
    assert median_ci_ranks(n) == (1, n)
    assert median_ci(samples) == (samples[0], samples[-1])


def test_median_ci_values_are_order_statistics() -> None:
    samples = [v * 3 for v in range(1, 101)]
    assert median_ci(samples) == (120, 183)  # 3 * rank 40, 3 * rank 61


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_normal_approximation_within_one_rank_of_exact_near_switch(confidence: float) -> None:
    for n in [EXACT_CI_MAX_N - 3, EXACT_CI_MAX_N, EXACT_CI_MAX_N + 1, EXACT_CI_MAX_N + 17, 2000, 777]:
        exact = median_ci_ranks(n, confidence, exact=True)
        approx = median_ci_ranks(n, confidence, exact=False)
        assert abs(exact[0] - approx[0]) <= 1
        assert abs(exact[1] - approx[1]) <= 1


def test_median_ci_switches_to_normal_above_limit() -> None:
    n = EXACT_CI_MAX_N + 1
    assert median_ci_ranks(n) == median_ci_ranks(n, exact=False)
    assert median_ci_ranks(EXACT_CI_MAX_N) == median_ci_ranks(EXACT_CI_MAX_N, exact=True)


def test_median_ci_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no samples"):
        median_ci([])
    with pytest.raises(ValueError, match="confidence"):
        median_ci([1, 2, 3], confidence=1.0)


# -- latency_stats --------------------------------------------------------------------------------


def test_latency_stats_values() -> None:
    samples = list(range(100, 0, -1))  # 1..100 in reverse measurement order
    stats = latency_stats(samples)
    assert set(stats) == {
        "count",
        "mean",
        "median",
        "p50",
        "p90",
        "p95",
        "p99",
        "std",
        "min",
        "max",
        "median_ci",
    }
    assert stats["count"] == 100
    assert stats["mean"] == 50.5
    assert stats["median"] == 50.5
    assert (stats["p50"], stats["p90"], stats["p95"], stats["p99"]) == (50, 90, 95, 99)
    assert all(type(stats[key]) is int for key in ("p50", "p90", "p95", "p99", "min", "max", "count"))
    assert (stats["min"], stats["max"]) == (1, 100)
    assert stats["std"] == pytest.approx(float(np.std(np.arange(1, 101), ddof=1)))
    assert stats["median_ci"] == {"low": 40, "high": 61, "confidence": 0.95}


def test_latency_stats_odd_count_median() -> None:
    stats = latency_stats([5, 1, 3])
    assert stats["median"] == 3.0
    assert type(stats["median"]) is float


def test_latency_stats_std_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    samples = rng.integers(1_000, 2_000_000, size=537).tolist()
    stats = latency_stats(samples)
    assert stats["std"] == pytest.approx(float(np.std(samples, ddof=1)), rel=1e-12)
    assert stats["mean"] == pytest.approx(float(np.mean(samples)), rel=1e-12)
    assert stats["median"] == float(np.median(samples))


def test_latency_stats_single_sample() -> None:
    stats = latency_stats([42])
    assert stats["std"] == 0.0
    assert stats["median"] == 42.0
    assert stats["p99"] == stats["min"] == stats["max"] == 42
    assert stats["median_ci"]["low"] == stats["median_ci"]["high"] == 42


def test_latency_stats_is_strict_json() -> None:
    stats = latency_stats(np.array([3, 1, 2, 8, 5], dtype=np.int64))
    text = json.dumps(stats, allow_nan=False)
    assert json.loads(text) == stats
    assert all(not isinstance(v, np.generic) for v in stats.values())
    assert all(not isinstance(v, np.generic) for v in stats["median_ci"].values())


def test_latency_stats_rejects_empty() -> None:
    with pytest.raises(ValueError, match="no latency samples"):
        latency_stats([])


def test_latency_stats_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        latency_stats([1.0, float("nan")])
