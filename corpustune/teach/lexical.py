"""BM25 as a teacher: the BM25 score of a query against a passage of an indexed corpus.

BM25 needs corpus statistics, so the teacher indexes the corpus and looks passages up by text;
scoring a passage outside that corpus is an error. The corpus is part of the teacher's id: the
same pair scores differently after the corpus changed (other document frequencies), so a score
cache must not hand back scores made with the old statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpustune.data.corpus import corpus_digest
from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.retrieve.bm25 import BM25Index
from corpustune.teach.base import Pair


class BM25Teacher:
    def __init__(self, passages: Sequence[Passage], *, language: str | None = "english"):
        self.index = BM25Index(passages, language=language)
        self.rows = {p.full_text(): i for i, p in enumerate(passages)}
        self.id = f"bm25:{language}:corpus-{corpus_digest(passages)[:16]}"

    def score(self, pairs: Sequence[Pair]) -> np.ndarray:
        """BM25 scores, float32 (len(pairs),); each distinct query is scored against the corpus once."""
        scores = np.empty(len(pairs), dtype=np.float32)
        by_query: dict[str, list[int]] = {}
        for i, (query, _) in enumerate(pairs):
            by_query.setdefault(query, []).append(i)
        for query, positions in by_query.items():
            all_scores = self.index.all_scores(query)  # (corpus size,)
            for i in positions:
                row = self.rows.get(pairs[i][1])
                if row is None:
                    raise InputError(
                        f"BM25 teacher: a passage is not in the indexed corpus (starts {pairs[i][1][:60]!r}); "
                        "score only passages of the corpus given to the teacher"
                    )
                scores[i] = all_scores[row]
        return scores
