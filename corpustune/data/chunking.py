"""Splitting a long text into overlapping windows of words (text folders and documents)."""

from __future__ import annotations


def split_words(text: str, size: int, overlap: int) -> list[str]:
    """Split text into windows of at most `size` whitespace tokens, consecutive windows sharing
    `overlap` tokens; the last window ends at the end of the text."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    step = size - overlap
    starts = range(0, len(words) - overlap, step)
    return [" ".join(words[start : start + size]) for start in starts]
