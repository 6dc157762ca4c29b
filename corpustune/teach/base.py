"""The teacher protocol and helpers shared by the teachers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

Pair = tuple[str, str]
"""(query text, passage text)."""


class Teacher(Protocol):
    """Scores (query, passage) pairs; higher means more relevant.

    `id` names the teacher and every setting that changes its scores: it keys the score cache.
    """

    id: str

    def score(self, pairs: Sequence[Pair]) -> np.ndarray:
        """Scores of `pairs`, float32 of shape (len(pairs),), in input order."""
        ...


class IdTeacher(Teacher, Protocol):
    """A teacher that scores passages of a corpus it holds by id: the scorer calls `score_ids`
    instead of `score` where it knows the passages' ids (the scoring stage does)."""

    def score_ids(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Scores of (query text, passage id) pairs, float32 (len(pairs),), equal to `score` of
        the same pairs with the passages' texts."""
        ...


class PreparingTeacher(Teacher, Protocol):
    """A teacher that plans before scoring: the scorer calls `prepare` once per request, before
    the first chunk, when any pair is still to be scored."""

    def prepare(self, pairs: Sequence[Pair]) -> None:
        """Told every distinct pair of the request (cached ones too, the same on every rank);
        `score` is then called with chunks of them. Scores must not depend on which chunks follow."""
        ...


def unique_pairs(pairs: Sequence[Pair]) -> tuple[list[Pair], np.ndarray]:
    """Distinct pairs (first-seen order) and, for each input pair, its row among them."""
    index: dict[Pair, int] = {}
    inverse = np.empty(len(pairs), dtype=np.int64)
    for i, pair in enumerate(pairs):
        inverse[i] = index.setdefault((pair[0], pair[1]), len(index))
    return list(index), inverse
