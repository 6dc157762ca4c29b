"""Paired per-query differences between two models on the same queries, with a standard error.

Two models evaluated on the same queries differ per query by d_q = ours_q - base_q. The mean of
d is the difference of the two means; its standard error is sd(d) / sqrt(n) with the n - 1
(sample) standard deviation. Pairing removes the spread of query difficulty, which is most of
the spread of either model's own values, so the standard error is far smaller than that of
either mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    """mean and standard error of ours - base over `n` queries (both in the measure's units)."""

    mean: float
    se: float
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {"mean": self.mean, "se": self.se, "n": self.n}

    def __str__(self) -> str:
        return f"{100 * self.mean:+.2f} ± {100 * self.se:.2f}"


def paired_difference(ours: np.ndarray, base: np.ndarray) -> PairedDifference:
    """Paired difference of two aligned (n,) arrays of per-query values; se is 0 for n < 2."""
    ours, base = np.asarray(ours, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if ours.shape != base.shape or ours.ndim != 1:
        raise ValueError(f"paired values need two arrays of one shape (n,), got {ours.shape} and {base.shape}")
    n = ours.shape[0]
    if n == 0:
        raise ValueError("no queries to compare")
    differences = ours - base  # (n,)
    se = float(differences.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return PairedDifference(float(differences.mean()), se, n)


def aligned(values: Mapping[str, float], reference: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Two per-query mappings as arrays in the reference's query order; both must judge the same queries."""
    if set(values) != set(reference):
        raise ValueError("the two evaluations are over different queries; pair only evaluations of one query set")
    order = list(reference)
    return np.array([values[q] for q in order]), np.array([reference[q] for q in order])
