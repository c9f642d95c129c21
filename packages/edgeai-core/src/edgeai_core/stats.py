"""Summary statistics of latency samples.

Latency distributions of inference are skewed and often multi-modal, so edgeai reports order statistics
(median, nearest-rank percentiles) next to mean and standard deviation, and a distribution-free confidence
interval for the median that needs no normality assumption. Percentiles use the nearest-rank definition
of MLPerf LoadGen, so every reported percentile is a latency that was actually measured.

Every function returns plain Python numbers, never numpy scalars, so results go straight into
``json.dumps(..., allow_nan=False)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from statistics import NormalDist
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Largest sample count for which :func:`median_ci` sums the binomial distribution exactly; above it the
#: normal approximation is used (it is then within one rank of the exact answer).
EXACT_CI_MAX_N = 10_000

#: Percentiles :func:`latency_stats` reports, by nearest rank.
PERCENTILES = (50, 90, 95, 99)


def nearest_rank(sorted_samples: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0 <= q <= 100) of ascending ``sorted_samples`` by nearest rank.

    The rank is ``ceil(q / 100 * n)`` clamped to ``[1, n]`` (1-based), as in MLPerf LoadGen: the result is
    always one of the samples, never an interpolation between two. ``q = 0`` gives the minimum.
    """
    n = len(sorted_samples)
    if n == 0:
        raise ValueError("cannot take a percentile of no samples")
    if not 0 <= q <= 100:  # also rejects NaN
        raise ValueError(f"percentile must be between 0 and 100, got {q!r}")
    rank = min(max(math.ceil(q / 100 * n), 1), n)
    value: float = _plain(sorted_samples[rank - 1])
    return value


def median_ci_ranks(n: int, confidence: float = 0.95, *, exact: bool | None = None) -> tuple[int, int]:
    """Return the 1-based ranks ``(j, n + 1 - j)`` bounding a ``confidence`` interval for the median.

    The interval ``[x_(j), x_(n+1-j)]`` covers the population median unless fewer than ``j`` or more than
    ``n - j`` samples fall below it, so its coverage is ``1 - 2 * P(B <= j - 1)`` with ``B ~ Binomial(n,
    1/2)`` whatever the distribution. ``j`` is the largest rank whose coverage still reaches
    ``confidence``, i.e. the narrowest such interval.

    The binomial tail is summed exactly in integers (no underflow of ``2**-n``) for ``n <=``
    :data:`EXACT_CI_MAX_N`, and from the normal approximation with continuity correction above that
    (``exact`` forces either). When even ``(1, n)``, the sample range, does not reach ``confidence``
    (``n < 6`` at 95 %), the range is returned anyway: it is the widest interval the data allow.
    """
    if n < 1:
        raise ValueError("cannot bound the median of no samples")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    if exact is None:
        exact = n <= EXACT_CI_MAX_N
    j = _exact_rank(n, confidence) if exact else _normal_rank(n, confidence)
    j = min(max(j, 1), (n + 1) // 2)
    return j, n + 1 - j


def _exact_rank(n: int, confidence: float) -> int:
    # Coverage of rank j is >= confidence  <=>  2 * sum_{k < j} C(n, k) <= (1 - confidence) * 2**n.
    # str() keeps the decimal the caller meant: 0.95 becomes exactly 19/20, not the nearest binary float.
    alpha = 1 - Fraction(str(confidence))
    budget_num, budget_den = alpha.numerator << n, alpha.denominator
    tail, term, j = 0, 1, 0  # term = C(n, j), tail = sum_{k < j + 1} C(n, k) after the update below
    while j < (n + 1) // 2:
        tail += term
        if 2 * tail * budget_den > budget_num:
            break
        j += 1
        term = term * (n - j + 1) // j
    return j


def _normal_rank(n: int, confidence: float) -> int:
    # P(B <= j - 1) ~ Phi((j - 1/2 - n/2) / (sqrt(n)/2)) <= (1 - confidence) / 2, solved for the largest j.
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return math.floor((n + 1 - z * math.sqrt(n)) / 2)


def median_ci(sorted_samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Return a distribution-free ``confidence`` interval for the median of ascending ``sorted_samples``.

    The bounds are order statistics chosen by :func:`median_ci_ranks` (see there for the method); for
    fewer samples than the confidence can be reached with (``n < 6`` at 95 %) it is ``(min, max)``, whose
    actual coverage is then lower than asked for.
    """
    n = len(sorted_samples)
    if n == 0:
        raise ValueError("cannot bound the median of no samples")
    low, high = median_ci_ranks(n, confidence)
    return _plain(sorted_samples[low - 1]), _plain(sorted_samples[high - 1])


def latency_stats(samples_ns: Sequence[int], confidence: float = 0.95) -> dict[str, Any]:
    """Summarize latency samples (nanoseconds, in measurement order) for a results file.

    Keys: ``count``, ``mean``, ``median`` (mean of the two middle values for even counts), ``p50``,
    ``p90``, ``p95``, ``p99`` (nearest rank, so integers for integer samples), ``std`` (sample standard
    deviation, ddof=1; 0.0 for a single sample), ``min``, ``max`` and ``median_ci``
    (``{"low", "high", "confidence"}``, see :func:`median_ci`).
    """
    data = np.asarray(samples_ns)
    if data.ndim != 1:
        raise ValueError(f"latency samples must be a flat sequence, got an array of shape {data.shape}")
    if data.size == 0:
        raise ValueError("no latency samples to summarize (the benchmark recorded no measurements)")
    if data.dtype.kind not in "iuf":
        raise ValueError(f"latency samples must be numbers, got dtype {data.dtype}")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise ValueError("latency samples contain NaN or infinite values")
    ordered = np.sort(data)
    n = int(ordered.size)
    middle = n // 2
    median = float(ordered[middle]) if n % 2 else (float(ordered[middle - 1]) + float(ordered[middle])) / 2
    low, high = median_ci(ordered, confidence)  # type: ignore[arg-type]  # ndarray is a sequence here
    stats: dict[str, Any] = {
        "count": n,
        "mean": float(ordered.mean(dtype=np.float64)),
        "median": median,
    }
    for q in PERCENTILES:
        stats[f"p{q}"] = nearest_rank(ordered, q)  # type: ignore[arg-type]
    stats["std"] = float(ordered.std(ddof=1, dtype=np.float64)) if n > 1 else 0.0
    stats["min"] = _plain(ordered[0])
    stats["max"] = _plain(ordered[-1])
    stats["median_ci"] = {"low": low, "high": high, "confidence": confidence}
    return stats


def _plain(value: Any) -> Any:
    """Turn a numpy scalar into the equivalent Python int or float (json cannot encode numpy types)."""
    return value.item() if isinstance(value, np.generic) else value
