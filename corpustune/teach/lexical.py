"""BM25 as a teacher: the BM25 score of a query against a passage of an indexed corpus.

BM25 needs corpus statistics, so the teacher scores passages of one indexed corpus; scoring a
passage outside it is an error. Given a run folder, it reads the run's saved index (the one mining
built, memory-mapped) instead of building its own. Pairs are scored by passage id (`score_ids`,
what the scoring stage calls): only the query's columns of the index are read, for just the pairs'
passages, not all N scores per query. The corpus is part of the teacher's id: the same pair scores
differently after the corpus changed (other document frequencies), so a score cache must not hand
back scores made with the old statistics.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corpustune.data.corpus import corpus_digest
from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.parallel import Context
from corpustune.retrieve.bm25 import BM25Index, BM25Params, shared_index
from corpustune.teach.base import Pair


def _text_key(text: str) -> bytes:
    """16 bytes that stand for a passage text, so that a text lookup holds no copy of the corpus."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class BM25Teacher:
    def __init__(self, passages: Sequence[Passage], *, language: str | None = "english", run: Path | None = None,
                 context: Context | None = None):
        """`run`: the run folder whose shared index to use (built there if absent); without it the
        index is built in memory. Under torchrun every rank must construct the teacher (see `shared_index`)."""
        digest = corpus_digest(passages)
        params = BM25Params(language)
        self.index = (shared_index(passages, run, params, context=context, digest=digest) if run is not None
                      else BM25Index(passages, language=language))
        self.rows = {passage_id: row for row, passage_id in enumerate(self.index.passage_ids)}
        self.id = f"bm25:{language}:corpus-{digest[:16]}"
        self._passages = passages
        self._rows_by_text: dict[bytes, int] | None = None

    def score_ids(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """BM25 scores of (query text, passage id) pairs, float32 (len(pairs),), input order."""
        rows = np.empty(len(pairs), dtype=np.int64)
        for i, (_, passage_id) in enumerate(pairs):
            row = self.rows.get(passage_id)
            if row is None:
                raise InputError(f"BM25 teacher: passage {passage_id!r} is not in the indexed corpus; "
                                 "score only passages of the corpus given to the teacher")
            rows[i] = row
        return self._score_rows([query for query, _ in pairs], rows)

    def score(self, pairs: Sequence[Pair]) -> np.ndarray:
        """BM25 scores of (query text, passage text) pairs, float32 (len(pairs),), for callers
        without passage ids; the first call hashes every passage text once to find rows."""
        if self._rows_by_text is None:
            self._rows_by_text = {_text_key(p.full_text()): row for row, p in enumerate(self._passages)}
        rows = np.empty(len(pairs), dtype=np.int64)
        for i, (_, text) in enumerate(pairs):
            row = self._rows_by_text.get(_text_key(text))
            if row is None:
                raise InputError(
                    f"BM25 teacher: a passage is not in the indexed corpus (starts {text[:60]!r}); "
                    "score only passages of the corpus given to the teacher"
                )
            rows[i] = row
        return self._score_rows([query for query, _ in pairs], rows)

    def _score_rows(self, queries: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """Scores of queries[i] against passage row rows[i]; each distinct query is tokenized once."""
        scores = np.empty(len(rows), dtype=np.float32)
        by_query: dict[str, list[int]] = {}
        for i, query in enumerate(queries):
            by_query.setdefault(query, []).append(i)
        for query, positions in by_query.items():
            scores[positions] = self.index.pair_scores(query, rows[positions])
        return scores
