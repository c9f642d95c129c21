"""Deterministic, stratified, seeded splitting of labelled samples (numpy only).

Every class is spread over the groups in proportion to its size. The allocation rounds the *cumulative*
class counts, so each class lands within one sample of its proportional share in every group and the
group totals are within half a sample of theirs. Only ``numpy.random.default_rng(seed)`` draws, so the
same labels and seed give the same indices in every process (no ``hash()``, no set ordering).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _round(value: float) -> int:
    """Round half up (Python's round() rounds half to even, which would skew small classes)."""
    return int(np.floor(value + 0.5 + 1e-9))


def stratified_split(
    labels: np.ndarray, fractions: Sequence[float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Split the sample indices ``0..len(labels)-1`` into ``len(fractions) + 1`` groups.

    Group ``j < len(fractions)`` receives ``fractions[j]`` of each class; the last group the rest. Each group
    comes back in a seeded random order (not sorted by class), so taking the first k samples of a split
    still sees every class.
    """
    labels = np.asarray(labels)
    if sum(fractions) > 1.0 + 1e-9:
        raise ValueError(f"fractions {list(fractions)} add up to more than 1")
    groups: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    assigned = [0] * len(fractions)
    seen = 0
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        seen += len(members)
        start = 0
        for j, fraction in enumerate(fractions):
            want = _round(seen * fraction) - assigned[j]
            take = max(0, min(want, len(members) - start))
            groups[j].append(members[start : start + take])
            assigned[j] += take
            start += take
        groups[-1].append(members[start:])
    result = []
    for parts in groups:
        joined = np.concatenate(parts) if parts else np.empty(0, np.int64)
        result.append(rng.permutation(joined.astype(np.int64)))
    return result


def stratified_subset(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` sample indices (sorted) keeping every class's share; all of them when ``count`` >= N."""
    n = len(labels)
    if count >= n:
        return np.arange(n, dtype=np.int64)
    chosen, _rest = stratified_split(labels, [count / n], rng)
    return np.sort(chosen)
