"""Teacher scores on disk, keyed by sha256(teacher id, query text, passage text).

Each process appends to its own log (`part-<rank>.jsonl`) through `JsonlAppender`, durable after
every chunk, so a killed run keeps every finished chunk and a re-run scores only what is missing.
Every line carries a check of its key and score, so an edited or damaged score is scored again.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from pathlib import Path

from corpustune.data.atomic import JsonlAppender
from corpustune.data.sealed import quarantine_lines, read_sealed_log, sealed_record


def pair_key(teacher_id: str, query: str, passage: str) -> str:
    digest = hashlib.sha256()
    for part in (teacher_id, query, passage):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def _is_score(record: dict) -> bool:
    """A cache line's fields have the types the cache writes: a string key and a finite score."""
    score = record.get("s")
    return isinstance(record.get("k"), str) and isinstance(score, (int, float)) and math.isfinite(score)


class ScoreCache:
    def __init__(self, folder: str | os.PathLike, rank: int = 0):
        self.folder = Path(folder)
        self.rank = rank
        self._appender: JsonlAppender | None = None

    def load(self, *, repair: bool = True) -> dict[str, float]:
        """Every cached score of every rank's log whose line matches its check (see
        `corpustune.data.sealed`); the others are left out, so they are scored again, and rank 0
        moves them aside with a warning unless `repair` is False (a dry run writes nothing). Rank 0
        alone rewrites logs: every rank loads before any appends (the scorer's barrier), and a log
        is replaced atomically."""
        scores: dict[str, float] = {}
        for path in sorted(self.folder.glob("part-*.jsonl")):
            records, bad = read_sealed_log(path, _is_score)
            scores.update((record["k"], float(record["s"])) for record in records)
            if bad and repair and self.rank == 0:
                self.close()  # its own log is rewritten: reopen for the next append
                quarantine_lines(path, bad, "a teacher score that does not match its check (edited, damaged, or "
                                            "written by an older corpustune)", "scoring those pairs again")
        return scores

    def append(self, keys: Sequence[str], scores: Sequence[float]) -> None:
        if self._appender is None:
            self._appender = JsonlAppender(self.folder / f"part-{self.rank}.jsonl")
        self._appender.append_many(sealed_record({"k": k, "s": float(s)}) for k, s in zip(keys, scores))

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None
