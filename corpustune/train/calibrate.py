"""A teacher temperature matched to the student's sharpness (`teacher_temperature: auto`).

The listwise loss asks the student's distribution over a list, softmax(cos / tau_S), to equal
the teacher's, softmax(t / tau_T). When the teacher's distribution is flatter than the student's
already is, most of that loss asks the student to shrink the gap between each positive and its
hard negatives, i.e. to rank *less* decisively, instead of re-ordering the list. `auto` picks
the tau_T at which the teacher's distributions are, on average, exactly as sharp (same mean
entropy) as the untrained student's on the training lists, so the loss carries the teacher's
ordering and not a change of scale. It reads only the training lists, never evaluation data.
"""

from __future__ import annotations

import math

import numpy as np


def mean_softmax_entropy(logits: np.ndarray, valid: np.ndarray) -> float:
    """Mean over rows of the entropy (nats) of softmax over the valid slots of each row.

    logits: (Q, L) float; valid: (Q, L) bool, at least one True per row.
    """
    masked = np.where(valid, logits, -np.inf)
    shifted = masked - masked.max(axis=1, keepdims=True)  # (Q, L), max 0 per row
    weights = np.where(valid, np.exp(shifted), 0.0)
    total = weights.sum(axis=1, keepdims=True)  # (Q, 1)
    probabilities = weights / total
    log_probabilities = np.where(valid, shifted - np.log(total), 0.0)
    return float(-(probabilities * log_probabilities).sum(axis=1).mean())


def matched_teacher_temperature(
    student_cosines: np.ndarray,
    teacher_scores: np.ndarray,
    valid: np.ndarray,
    student_temperature: float,
    *,
    low: float = 1e-3,
    high: float = 1e3,
    iterations: int = 60,
) -> float:
    """The tau_T whose mean teacher entropy equals the student's mean entropy at `student_temperature`.

    student_cosines, teacher_scores: (Q, L); valid: (Q, L) bool. The entropy of softmax(t / tau)
    rises monotonically with tau (strictly, unless a row is constant), so the answer is found by
    bisection on log tau within [low, high]; a target outside the reachable range returns the
    nearer end.
    """
    target = mean_softmax_entropy(student_cosines / student_temperature, valid)
    log_low, log_high = math.log(low), math.log(high)
    for _ in range(iterations):
        middle = 0.5 * (log_low + log_high)
        if mean_softmax_entropy(teacher_scores / math.exp(middle), valid) < target:
            log_low = middle
        else:
            log_high = middle
    return math.exp(0.5 * (log_low + log_high))
