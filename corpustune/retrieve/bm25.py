"""BM25 through bm25s, with the Snowball stemmer and an English stopword list by default."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpustune.data.records import Passage
from corpustune.retrieve import Run


class BM25Index:
    """A BM25 index over passages (title + text).

    `language` picks the PyStemmer algorithm and the bm25s stopword list; None disables both.
    """

    def __init__(
        self,
        passages: Sequence[Passage],
        *,
        language: str | None = "english",
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
        show_progress: bool = False,
    ):
        import bm25s

        self.passage_ids = [p.id for p in passages]
        self._show_progress = show_progress
        self._stemmer = None
        self._stopwords = None
        if language is not None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer(language)
            self._stopwords = "en" if language == "english" else language
        tokens = self._tokenize([p.full_text() for p in passages])
        self._retriever = bm25s.BM25(k1=k1, b=b, method=method)
        self._retriever.index(tokens, show_progress=show_progress)

    def _tokenize(self, texts: Sequence[str]):
        import bm25s

        return bm25s.tokenize(
            list(texts), stopwords=self._stopwords, stemmer=self._stemmer, show_progress=self._show_progress
        )

    def search(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores (q, k') and passage row indices (q, k'), best first, k' = min(k, corpus size)."""
        k = min(k, len(self.passage_ids))
        indices, scores = self._retriever.retrieve(
            self._tokenize(queries), k=k, show_progress=self._show_progress, n_threads=1
        )
        return scores.astype(np.float32), indices.astype(np.int64)

    def all_scores(self, query: str) -> np.ndarray:
        """BM25 score of `query` against every passage, float32 (corpus size,), in index order."""
        tokens = self._tokenize([query])
        words = {index: word for word, index in tokens.vocab.items()}
        known = [words[i] for i in tokens.ids[0] if words[i] in self._retriever.vocab_dict] if tokens.ids else []
        if not known:
            return np.zeros(len(self.passage_ids), dtype=np.float32)
        return self._retriever.get_scores(known).astype(np.float32)

    def run(self, query_ids: Sequence[str], queries: Sequence[str], k: int) -> Run:
        """A run over these queries; passages with a zero score are left out, as no term matched."""
        scores, indices = self.search(queries, k)
        return {
            query_id: {self.passage_ids[j]: float(s) for s, j in zip(row_s, row_i) if s > 0}
            for query_id, row_s, row_i in zip(query_ids, scores, indices)
        }
