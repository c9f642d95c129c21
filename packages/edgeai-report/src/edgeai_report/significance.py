"""Is a difference between two runs beyond noise? Latency and accuracy significance for comparisons.

Latency: the ratio of the medians (other / baseline) with a seeded bootstrap 95% confidence interval, and
the Mann-Whitney U test (normal approximation with tie correction and continuity correction; numpy only).
A difference is **beyond noise** when the test's two-sided p-value is below :data:`ALPHA` *and* the
interval excludes 1.0; otherwise it is **within noise**. A comparison where either run's validity verdict is
``noisy`` is flagged: its samples may hold the machine's disturbance rather than the model's.

Accuracy: McNemar's test when both runs hold per-sample predictions on the same split (``quality.predictions``
with ``quality.targets``); results.json normally holds only the confusion matrix, so the difference of the
two accuracies gets a Newcombe hybrid-score 95% interval from the two Wilson intervals (independent samples,
hence conservative for runs scored on the same split). Each entry names the method it used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edgeai_report.compare import Comparison
    from edgeai_report.load import Run

ALPHA = 0.05
Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 1000
#: samples per run entering the bootstrap (a seeded subsample beyond this; the interval only widens)
BOOTSTRAP_MAX_SAMPLES = 5000
SEED = 0

BEYOND = "beyond noise"
WITHIN = "within noise"


def _normal_sf2(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def rank_average(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0  # 1-based average of positions first+1 .. first+count
    ranks[order] = np.repeat(average, counts)
    return ranks


@dataclass(frozen=True)
class MannWhitney:
    u: float
    z: float
    p_value: float


def mann_whitney(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> MannWhitney:
    """Two-sided Mann-Whitney U test of ``a`` against ``b`` (U of ``a``), normal approximation with tie
    and continuity correction."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs samples on both sides")
    ranks = rank_average(np.concatenate([x, y]))
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    mean = n1 * n2 / 2.0
    _, counts = np.unique(np.concatenate([x, y]), return_counts=True)
    n = n1 + n2
    ties = float(((counts.astype(float) ** 3) - counts).sum())
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:  # every value equal
        return MannWhitney(u, 0.0, 1.0)
    z = (abs(u - mean) - 0.5) / math.sqrt(variance)
    z = max(z, 0.0) * (1.0 if u >= mean else -1.0)
    return MannWhitney(u, z, _normal_sf2(z))


def bootstrap_ratio_ci(
    baseline: Sequence[float] | np.ndarray,
    other: Sequence[float] | np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(ratio of medians other/baseline, lower, upper): a percentile bootstrap interval, seeded."""
    rng = np.random.default_rng(seed)
    a = _subsample(np.asarray(baseline, dtype=float), rng)
    b = _subsample(np.asarray(other, dtype=float), rng)
    ratio = float(np.median(b) / np.median(a))
    medians_a = _boot_medians(a, resamples, rng)
    medians_b = _boot_medians(b, resamples, rng)
    ratios = medians_b / medians_a
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return ratio, float(low), float(high)


def _subsample(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= BOOTSTRAP_MAX_SAMPLES:
        return values
    return rng.choice(values, BOOTSTRAP_MAX_SAMPLES, replace=False)


def _boot_medians(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(1, len(values)))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        picks = rng.integers(0, len(values), size=(stop - start, len(values)))
        out[start:stop] = np.median(values[picks], axis=1)
    return out


@dataclass(frozen=True)
class LatencySignificance:
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return {
            "median_ratio": self.ratio,
            "ci95": [self.ci_low, self.ci_high],
            "mann_whitney_p": self.p_value,
            "verdict": self.verdict,
            "method": "ratio of medians, seeded percentile bootstrap 95% CI; Mann-Whitney U (normal approx.)",
        }


def latency_significance(
    baseline: Sequence[float] | np.ndarray, other: Sequence[float] | np.ndarray, *, seed: int = SEED
) -> LatencySignificance:
    """Whether ``other``'s latency differs from ``baseline``'s beyond noise."""
    ratio, low, high = bootstrap_ratio_ci(baseline, other, seed=seed)
    test = mann_whitney(other, baseline)
    beyond = test.p_value < ALPHA and not (low <= 1.0 <= high)
    return LatencySignificance(ratio, low, high, test.p_value, BEYOND if beyond else WITHIN)


# -- accuracy ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemar:
    #: samples the first run got right and the second wrong, and the other way round
    only_first: int
    only_second: int
    statistic: float
    p_value: float


def mcnemar(
    first: Sequence[int] | np.ndarray, second: Sequence[int] | np.ndarray, truth: Sequence[int] | np.ndarray
) -> McNemar:
    """McNemar's test with Edwards' continuity correction on paired predictions of the same samples:
    chi2 = (|b - c| - 1)^2 / (b + c), one degree of freedom."""
    p1, p2, t = (np.asarray(v) for v in (first, second, truth))
    if not len(p1) == len(p2) == len(t):
        raise ValueError(f"paired predictions need equal lengths, got {len(p1)}, {len(p2)} and {len(t)}")
    right1, right2 = p1 == t, p2 == t
    b = int(np.sum(right1 & ~right2))
    c = int(np.sum(~right1 & right2))
    if b + c == 0:
        return McNemar(b, c, 0.0, 1.0)
    statistic = (abs(b - c) - 1.0) ** 2 / (b + c) if abs(b - c) >= 1 else 0.0
    return McNemar(b, c, statistic, math.erfc(math.sqrt(statistic / 2.0)))


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1.0 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """(p2 - p1, lower, upper): Newcombe's hybrid score interval (method 10) of a difference of proportions."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    d = p2 - p1
    lower = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    upper = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return d, lower, upper


def accuracy_significance(baseline: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any] | None:
    """Accuracy difference (other - baseline, points) with its test, from two ``quality`` sections."""
    values = [
        v if isinstance(v, (int, float)) else None
        for v in (
            baseline.get("accuracy"),
            other.get("accuracy"),
            baseline.get("num_samples"),
            other.get("num_samples"),
        )
    ]
    numbers = [float(v) for v in values if v is not None]
    if len(numbers) != 4 or not numbers[2] or not numbers[3]:
        return None
    acc1, acc2, n1, n2 = numbers
    preds1, preds2 = baseline.get("predictions"), other.get("predictions")
    truth1, truth2 = baseline.get("targets"), other.get("targets")
    if preds1 is not None and preds2 is not None and truth1 is not None and truth1 == truth2:
        test = mcnemar(preds1, preds2, truth1)
        return {
            "difference_points": (acc2 - acc1) * 100.0,
            "method": "McNemar (paired predictions, continuity-corrected)",
            "p_value": test.p_value,
            "statistic": test.statistic,
            "verdict": BEYOND if test.p_value < ALPHA else WITHIN,
        }
    k1, k2 = round(acc1 * n1), round(acc2 * n2)
    d, low, high = newcombe_difference(k1, int(n1), k2, int(n2))
    return {
        "difference_points": d * 100.0,
        "ci95_points": [low * 100.0, high * 100.0],
        "method": "Newcombe hybrid score 95% CI of the difference (from the confusion matrices' counts)",
        "verdict": BEYOND if not (low <= 0.0 <= high) else WITHIN,
    }


# -- pairs of a comparison -----------------------------------------------------------------------------------


@dataclass
class PairSignificance:
    run: str
    baseline: str
    latency: LatencySignificance | None
    accuracy: dict[str, Any] | None
    #: names of the runs of this pair whose validity verdict is noisy
    noisy: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "baseline": self.baseline,
            "latency": None if self.latency is None else self.latency.to_json(),
            "accuracy": self.accuracy,
            "noisy_runs": list(self.noisy),
        }


def validity_verdict(run: Run) -> str | None:
    section = run.doc.get("validity")
    return section.get("verdict") if isinstance(section, Mapping) else None


def pair_significance(baseline: Run, run: Run) -> PairSignificance:
    latency = None
    if (
        baseline.latency is not None
        and run.latency is not None
        and baseline.latency.samples_ns.size
        and run.latency.samples_ns.size
    ):
        latency = latency_significance(baseline.latency.samples_ns, run.latency.samples_ns)
    accuracy = None
    if (
        baseline.quality
        and run.quality
        and baseline.quality.get("applicable")
        and run.quality.get("applicable")
    ):
        accuracy = accuracy_significance(baseline.quality, run.quality)
    noisy = [r.name for r in (baseline, run) if validity_verdict(r) == "noisy"]
    return PairSignificance(run.name, baseline.name, latency, accuracy, noisy)


def comparison_pairs(comp: Comparison) -> list[tuple[Run, Run]]:
    """(baseline, run) pairs: those of the per-stage deltas, else every latency run against the first."""
    if comp.deltas:
        return [(row.baseline, row.run) for row in comp.deltas]
    runs = comp.latency_runs
    return [(runs[0], run) for run in runs[1:]]


def significance(comp: Comparison) -> list[PairSignificance]:
    return [pair_significance(base, run) for base, run in comparison_pairs(comp)]


__all__ = [
    "BEYOND",
    "WITHIN",
    "LatencySignificance",
    "MannWhitney",
    "McNemar",
    "PairSignificance",
    "accuracy_significance",
    "bootstrap_ratio_ci",
    "comparison_pairs",
    "latency_significance",
    "mann_whitney",
    "mcnemar",
    "newcombe_difference",
    "significance",
    "wilson_interval",
]
