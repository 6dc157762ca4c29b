"""The texts of a corpus as the encoders see them, without a second copy of the corpus in memory.

A passage's encoded text is `title + " " + text`, a new string; a list of them for the whole corpus
would double the text held in memory (1M SciFact-sized passages: ~1.5 GB more). `PassageTexts`
makes each one when it is read, so a streaming encoder holds one block of them at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import overload

import numpy as np

from corpustune.data.records import Passage

_DIGEST_BYTES = 16


class PassageTexts(Sequence[str]):
    """`passages[i].full_text()` for each i, made on access (a read-only view, not a copy)."""

    def __init__(self, passages: Sequence[Passage]):
        self.passages = passages

    def __len__(self) -> int:
        return len(self.passages)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [p.full_text() for p in self.passages[index]]
        return self.passages[index].full_text()


def first_occurrences(texts: Sequence[str]) -> np.ndarray:
    """For each row, the first row holding the same text: int64 (n,); row i is a duplicate when the
    result's [i] < i, and distinct texts are exactly the rows where it equals i.

    Rows are grouped by a 16-byte digest of their text (16 bytes a row, where sorting the texts
    themselves would hold them all), then every grouped row is compared with its first row as text;
    the rows of a group whose texts differ (a digest collision: never seen, but possible) are
    grouped again by their texts, so the result is always the exact first occurrence.
    """
    count = len(texts)
    digests = np.empty(count, dtype=f"V{_DIGEST_BYTES}")  # (n,) raw bytes: no padding or trimming
    for row in range(count):
        digests[row] = hashlib.blake2b(texts[row].encode("utf-8"), digest_size=_DIGEST_BYTES).digest()
    _, first, inverse = np.unique(digests, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)  # (n,) digest group of each row
    sources = first[inverse].astype(np.int64)  # (n,)
    colliding = {int(inverse[row]) for row in np.flatnonzero(sources != np.arange(count))
                 if texts[row] != texts[sources[row]]}
    if colliding:
        first_of_text: dict[str, int] = {}
        for row in np.flatnonzero(np.isin(inverse, list(colliding))):
            sources[row] = first_of_text.setdefault(texts[row], int(row))
    return sources
