"""Combining several teachers: each teacher's scores normalized within a list, then weighted.

With z-scores and equal weights, BM25 + the packaged MiniLM is the cheap offline teacher of
MODELS.md ("fusion by per-query z-normalized scores").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from corpustune.teach.filters import per_list_min_max, per_list_zscore


def combine(
    per_teacher: Sequence[Sequence[np.ndarray]], weights: Sequence[float], normalization: Literal["zscore", "minmax"]
) -> list[np.ndarray]:
    """per_teacher[t][l]: teacher t's raw scores of list l. Returns, per list, the weighted sum of
    the teachers' per-list normalized scores. A single teacher's raw scores are returned as-is."""
    if len(per_teacher) != len(weights):
        raise ValueError(f"{len(weights)} weights for {len(per_teacher)} teachers")
    if len(per_teacher) == 1:
        return [np.asarray(s, dtype=np.float64) for s in per_teacher[0]]
    normalize = per_list_zscore if normalization == "zscore" else per_list_min_max
    return [
        sum(w * normalize(teacher[i]) for teacher, w in zip(per_teacher, weights))
        for i in range(len(per_teacher[0]))
    ]


def combine_flat(
    per_teacher: Sequence[np.ndarray], lengths: Sequence[int], weights: Sequence[float],
    normalization: Literal["zscore", "minmax"],
) -> list[np.ndarray]:
    """`combine` for scores stored flat: per_teacher[t] holds teacher t's raw scores of every list
    back to back (list l has lengths[l] of them). Returns, per list, the combined scores."""
    bounds = np.cumsum([0, *lengths])
    split = [[flat[bounds[i] : bounds[i + 1]] for i in range(len(lengths))] for flat in per_teacher]
    return combine(split, weights, normalization)
