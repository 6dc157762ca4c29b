"""Teacher scores on disk, keyed by sha256(teacher id, query text, passage text).

Each process appends to its own log (`part-<rank>.jsonl`) through `JsonlAppender`, durable after
every chunk, so a killed run keeps every finished chunk and a re-run scores only what is missing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from corpustune.data.atomic import JsonlAppender, read_jsonl_log


def pair_key(teacher_id: str, query: str, passage: str) -> str:
    digest = hashlib.sha256()
    for part in (teacher_id, query, passage):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class ScoreCache:
    def __init__(self, folder: str | os.PathLike, rank: int = 0):
        self.folder = Path(folder)
        self.rank = rank
        self._appender: JsonlAppender | None = None

    def load(self) -> dict[str, float]:
        """Every cached score of every rank's log."""
        scores: dict[str, float] = {}
        for path in sorted(self.folder.glob("part-*.jsonl")):
            for record in read_jsonl_log(path):
                scores[record["k"]] = float(record["s"])
        return scores

    def append(self, keys: Sequence[str], scores: Sequence[float]) -> None:
        if self._appender is None:
            self._appender = JsonlAppender(self.folder / f"part-{self.rank}.jsonl")
        self._appender.append_many({"k": k, "s": float(s)} for k, s in zip(keys, scores))

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None
