"""Counts in messages: `counted(1, "passage")` is "1 passage", `counted(1200, "passage")` "1,200 passages"."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`number` (with thousands separators) and `noun`, in the plural unless it is 1."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"
