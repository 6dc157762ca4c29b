"""Length-sorted chunks under a token budget, against a slow reference that picks one text at a time."""

from __future__ import annotations

import numpy as np
import pytest

from corpustune.chunking import length_chunks


def reference_chunks(lengths: list[int], budget: int) -> list[list[int]]:
    """Start a chunk with the longest text left (the earliest among equals), then keep adding the
    next longest while (texts x first length) stays within the budget."""
    left = list(range(len(lengths)))

    def take_longest() -> int:
        pick = min(left, key=lambda i: (-lengths[i], i))
        left.remove(pick)
        return pick

    chunks = []
    while left:
        chunk = [take_longest()]
        padded_length = max(1, lengths[chunk[0]])
        while left and (len(chunk) + 1) * padded_length <= budget:
            chunk.append(take_longest())
        chunks.append(chunk)
    return chunks


def test_hand_computed_chunks():
    lengths = np.array([5, 30, 12, 30, 7, 100])
    chunks = length_chunks(lengths, 60)
    # 100 > 60: alone; two 30s fill 60 (ties in input order); the last three fit, 60 // 12 = 5 at a time
    assert [c.tolist() for c in chunks] == [[5], [1, 3], [2, 4, 0]]


def test_edge_cases():
    assert length_chunks(np.zeros(0, dtype=np.int64), 100) == []
    assert [c.tolist() for c in length_chunks(np.array([500, 3]), 100)] == [[0], [1]]  # too long: own chunk
    assert [c.tolist() for c in length_chunks(np.array([4, 4, 4, 4, 4]), 8)] == [[0, 1], [2, 3], [4]]  # ties stable
    assert [c.tolist() for c in length_chunks(np.array([0, 0, 0]), 2)] == [[0, 1], [2]]  # empty texts count 1 token
    assert [c.tolist() for c in length_chunks(np.array([3, 2]), 0)] == [[0], [1]]  # no budget: one text per chunk


@pytest.mark.parametrize("seed", range(20))
def test_random_lengths_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        # a narrow length range makes ties common; budgets from below the shortest to above the total
        lengths = rng.integers(0, rng.integers(1, 60), size=rng.integers(0, 40))
        budget = int(rng.integers(0, 400))
        chunks = length_chunks(lengths, budget)
        assert [c.tolist() for c in chunks] == reference_chunks(lengths.tolist(), budget)
        assert all(c.dtype.kind == "i" for c in chunks)
        assert all(len(c) == 1 or len(c) * max(1, lengths[c].max()) <= budget for c in chunks)
