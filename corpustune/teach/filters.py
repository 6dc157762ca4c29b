"""The paper's teacher filters and score normalization, as pure NumPy functions.

Each list's scores are a 1-d array whose entry 0 is the positive (the query's source passage).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def positive_first(lists: Sequence[np.ndarray]) -> np.ndarray:
    """Bool (len(lists),): the teacher ranks the positive first, i.e. no candidate scores strictly
    higher than it (a tie with the positive keeps the list, as argmax picks the first entry)."""
    return np.array([int(np.argmax(scores)) == 0 for scores in lists], dtype=bool)


def top_score_threshold(top_scores: np.ndarray, percentile: float) -> float:
    """The `percentile` (0-100, linear interpolation) of the lists' top scores."""
    return float(np.percentile(np.asarray(top_scores, dtype=np.float64), percentile))


def high_top_score(lists: Sequence[np.ndarray], percentile: float) -> tuple[np.ndarray, float]:
    """Bool (len(lists),): the list's top score is not below the `percentile` of all top scores;
    and that threshold."""
    if not lists:
        return np.zeros(0, dtype=bool), float("nan")
    tops = np.array([float(np.max(scores)) for scores in lists])
    threshold = top_score_threshold(tops, percentile)
    return tops >= threshold, threshold


def percentile_bounds(lists: Sequence[np.ndarray], lower: float = 1.0, upper: float = 99.0) -> tuple[float, float]:
    """The `lower` and `upper` percentiles of all scores of all lists together."""
    values = np.concatenate([np.asarray(s, dtype=np.float64) for s in lists]) if lists else np.zeros(0)
    if values.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [lower, upper])
    return float(low), float(high)


def min_max(scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """(scores - low) / (high - low) clipped to [0, 1]; when high <= low every score at or above
    `high` maps to 1 and the rest to 0."""
    scores = np.asarray(scores, dtype=np.float64)
    if high <= low:
        return (scores >= high).astype(np.float64)
    return np.clip((scores - low) / (high - low), 0.0, 1.0)


def per_list_zscore(scores: np.ndarray) -> np.ndarray:
    """(scores - mean) / std within one list (population std); a constant list maps to zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.std()
    return np.zeros_like(scores) if spread == 0 else (scores - scores.mean()) / spread


def per_list_min_max(scores: np.ndarray) -> np.ndarray:
    """(scores - min) / (max - min) within one list; a constant list maps to zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.max() - scores.min()
    return np.zeros_like(scores) if spread == 0 else (scores - scores.min()) / spread
