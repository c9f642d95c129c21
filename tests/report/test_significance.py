"""Significance in comparisons (edgeai_report.significance) and the validity banner of the report."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_report.render import render_report
from edgeai_report.significance import (
    BEYOND,
    WITHIN,
    accuracy_significance,
    latency_significance,
    mann_whitney,
    mcnemar,
    newcombe_difference,
    rank_average,
    wilson_interval,
)

from .conftest import load_fixture


def _latencies(seed: int, scale: float = 1.0, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (100_000 + rng.gamma(2.0, 5_000, n)) * scale


def test_identical_distributions_are_within_noise() -> None:
    same = latency_significance(_latencies(1), _latencies(1))
    assert same.verdict == WITHIN and same.ratio == 1.0 and same.p_value == 1.0
    assert same.ci_low <= 1.0 <= same.ci_high
    draws = latency_significance(_latencies(1), _latencies(2))  # two draws of one distribution
    assert draws.verdict == WITHIN and draws.ci_low <= 1.0 <= draws.ci_high


def test_a_20_percent_shift_is_beyond_noise() -> None:
    shifted = latency_significance(_latencies(1), _latencies(2, scale=1.2))
    assert shifted.verdict == BEYOND
    assert shifted.ratio == pytest.approx(1.2, rel=0.02) and 1.0 < shifted.ci_low < shifted.ci_high
    assert shifted.p_value < 1e-10


def test_the_bootstrap_is_seeded() -> None:
    a, b = _latencies(3), _latencies(4, 1.05)
    assert latency_significance(a, b) == latency_significance(a, b)


def test_mann_whitney_matches_the_hand_computation() -> None:
    # a = [1, 2, 3], b = [4, 5, 6]: U of a is 0; mean 4.5, variance 3*3*7/12 = 5.25
    test = mann_whitney([1, 2, 3], [4, 5, 6])
    assert test.u == 0.0
    assert test.z == pytest.approx(-(4.5 - 0.5) / math.sqrt(5.25))
    assert test.p_value == pytest.approx(math.erfc(4.0 / math.sqrt(5.25) / math.sqrt(2)))
    assert list(rank_average(np.array([10.0, 20.0, 10.0, 30.0]))) == [1.5, 3.0, 1.5, 4.0]
    # ties: [1, 1] vs [1, 2]: ranks 2, 2, 2, 4; U = 4 - 3 = 1; ties correction (3^3 - 3) / (4 * 3) = 2
    tied = mann_whitney([1, 1], [1, 2])
    assert tied.u == 1.0
    assert tied.z == pytest.approx(-(1.0 - 0.5) / math.sqrt(2 * 2 / 12 * (5 - 2)))


def test_mcnemar_gives_the_textbook_statistic() -> None:
    # 10 samples only the first run gets right, 2 only the second: chi2 = (|10 - 2| - 1)^2 / 12
    truth = [0] * 40
    first = [0] * 10 + [1] * 2 + [0] * 20 + [1] * 8
    second = [1] * 10 + [0] * 2 + [0] * 20 + [1] * 8
    test = mcnemar(first, second, truth)
    assert (test.only_first, test.only_second) == (10, 2)
    assert test.statistic == pytest.approx(49 / 12)
    assert test.p_value == pytest.approx(math.erfc(math.sqrt(49 / 24)))  # chi2 with 1 df
    assert 0.04 < test.p_value < 0.05


def test_newcombe_interval_of_a_difference() -> None:
    low, high = wilson_interval(81, 263)  # Newcombe (1998), example: 0.2553 - 0.3662
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    # Newcombe's case (h), 0/10 - 0/20: -0.1611 to 0.2775 (the function takes the baseline first)
    d, lower, upper = newcombe_difference(0, 20, 0, 10)
    assert d == 0.0 and round(lower, 4) == -0.1611 and round(upper, 4) == 0.2775


def test_accuracy_significance_names_its_method() -> None:
    same = accuracy_significance(
        {"accuracy": 0.9, "num_samples": 200}, {"accuracy": 0.895, "num_samples": 200}
    )
    assert same is not None and same["verdict"] == WITHIN and same["method"].startswith("Newcombe")
    apart = accuracy_significance(
        {"accuracy": 0.95, "num_samples": 2000}, {"accuracy": 0.80, "num_samples": 2000}
    )
    assert apart is not None and apart["verdict"] == BEYOND
    assert apart["difference_points"] == pytest.approx(-15.0)
    paired = accuracy_significance(
        {"accuracy": 0.8, "num_samples": 5, "predictions": [0, 1, 1, 0, 1], "targets": [0, 1, 1, 0, 0]},
        {"accuracy": 0.6, "num_samples": 5, "predictions": [0, 1, 0, 0, 1], "targets": [0, 1, 1, 0, 0]},
    )
    assert paired is not None and paired["method"].startswith("McNemar") and paired["verdict"] == WITHIN


def _with_validity(doc: dict[str, Any], verdict: str, reasons: list[str]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["validity"] = {"verdict": verdict, "reasons": reasons, "checks": [], "unavailable": []}
    return doc


def test_the_comparison_carries_significance_and_flags_noisy_runs(tmp_path: Path) -> None:
    base = load_fixture("blobs-mlp-int8")
    slower = copy.deepcopy(base)
    slower["name"] = "slower"
    slower["latency"]["samples_ns"] = [int(s * 1.2) for s in base["latency"]["samples_ns"]]
    reason = "host: other processes used 80% of the CPUs on average (limit 25%)"
    files = []
    for name, doc in (("base", base), ("slower", _with_validity(slower, "noisy", [reason]))):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        files.append(path)
    result = render_report(files, tmp_path / "report", formats="md", jobs=1)
    data = result.to_json()
    assert data["validity"] == {base["name"]: None, "slower": "noisy"}
    (pair,) = data["significance"]
    assert pair["run"] == "slower" and pair["noisy_runs"] == ["slower"]
    assert pair["latency"]["verdict"] == BEYOND
    assert pair["latency"]["median_ratio"] == pytest.approx(1.2, rel=0.01)
    assert pair["accuracy"]["verdict"] == WITHIN  # the same quality section
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "Noisy run: the machine disturbed this measurement." in markdown
    assert "Host: other processes used 80% of the CPUs on average (limit 25%)." in markdown
    assert "noisy: slower" in markdown and "beyond noise" in markdown
