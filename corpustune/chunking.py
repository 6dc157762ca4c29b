"""Length-sorted chunks under a padded-token budget, shared by every model forward pass.

A batch of texts is padded to its longest member, so its cost is (texts x longest) tokens.
Sorting by token length, longest first, and cutting the sorted order so that each chunk's
(count x its first, longest, length) stays within a budget puts short texts in large chunks and
leaves almost no padding. NumPy only, so the encoder, the teachers and the trainer all import
it without pulling in each other.
"""

from __future__ import annotations

import numpy as np


def length_chunks(lengths: np.ndarray, tokens_per_chunk: int) -> list[np.ndarray]:
    """Indices into `lengths`, longest first, cut into chunks of at most `tokens_per_chunk`
    padded tokens.

    `lengths`: (n,) int, tokens per text (a length below 1 counts as 1). `tokens_per_chunk`:
    the padded-token budget, chunk size x the chunk's longest length. Returns int64 index arrays
    in processing order; together they hold every index once. Ties keep input order (a stable
    sort), so the same lengths always give the same chunks. A chunk takes as many texts as fit
    at the length of its first (longest) text; a text longer than the budget gets a chunk of
    its own, as a text must be processed whatever the budget.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable")  # (n,)
    chunks, start = [], 0
    while start < len(order):
        size = max(1, tokens_per_chunk // max(1, int(lengths[order[start]])))
        chunks.append(order[start : start + size])
        start += size
    return chunks
