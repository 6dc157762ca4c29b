"""BM25 through bm25s, with the Snowball stemmer and an English stopword list by default.

An index is built once per run and corpus, saved under the run's cache (`RunLayout.bm25_index`,
named by the corpus digest and the BM25 settings, so a changed corpus never reuses an old index)
and memory-mapped by every user: mining's BM25 retriever and the BM25 teacher read the same files,
and under torchrun only rank 0 builds them. The folder is sealed (`corpustune.data.sealed`): a
damaged index is moved aside and built again, never used.

The corpus is tokenized in a stream: each passage's token ids go into one flat int32 array
(4 bytes per token) instead of a Python list per passage, and no list of all passage texts is
made. The score matrix is then built in shards of passages (`_ShardedBM25`): bm25s's own
per-passage arithmetic fills the final CSC arrays shard by shard, so the build holds the flat ids,
the final matrix (8 bytes per stored score) and one shard's working arrays, instead of bm25s's
whole-corpus triplets and their sort (about 28 bytes per stored score).
"""

from __future__ import annotations

import array
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpustune.data.corpus import corpus_digest
from corpustune.data.records import Passage
from corpustune.data.sealed import folder_problem, quarantine, seal_folder
from corpustune.errors import InputError
from corpustune.layout import RunLayout
from corpustune.parallel import Context, barrier
from corpustune.retrieve import Run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BM25Params:
    """The settings that change BM25 scores; `language` picks the PyStemmer algorithm and the
    bm25s stopword list (None: neither)."""

    language: str | None = "english"
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"

    def key(self, digest: str) -> str:
        """The index's name for a corpus with this `corpus_digest`: one folder per corpus and settings."""
        return f"{digest[:16]}-{self.language or 'none'}-k1={self.k1:g}-b={self.b:g}-{self.method}"


class _FlatTokenIds(Sequence):
    """Token ids of every passage in one int32 array with row offsets; reads as a sequence of
    lists (what bm25s iterates over), one passage's list alive at a time."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray):
        self._ids, self._offsets = ids, offsets  # (tokens,) int32, (passages + 1,) int64

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row):
        return self._ids[self._offsets[row] : self._offsets[row + 1]].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for row in range(len(self)):
            yield self[row]

    def lengths(self) -> np.ndarray:
        """Tokens per passage, int64 (passages,)."""
        return np.diff(self._offsets)

    def shards(self, max_tokens: int) -> Iterator[tuple[int, _FlatTokenIds]]:
        """(first row, the rows' ids) for consecutive runs of passages of at most `max_tokens`
        tokens each (or one passage, where a single passage is longer)."""
        start, rows = 0, len(self)
        while start < rows:
            end = int(np.searchsorted(self._offsets, self._offsets[start] + max_tokens, side="right")) - 1
            end = min(max(end, start + 1), rows)
            base = self._offsets[start]
            yield start, _FlatTokenIds(self._ids[base : self._offsets[end]], self._offsets[start : end + 1] - base)
            start = end

    def passage_terms(self) -> np.ndarray:
        """The term of each distinct (passage, term) pair, int64 (pairs,): a term appears once per
        passage that holds it."""
        rows = np.repeat(np.arange(len(self), dtype=np.int64), self.lengths())
        return np.unique((self._ids.astype(np.int64) << 32) | rows) >> 32


# Tokens per shard of the score-matrix build: about 30 bytes a token of working arrays (~120 MB).
SHARD_TOKENS = 1 << 22


class _ShardedBM25:
    """Builds bm25s's CSC score matrix shard by shard; mixed into `bm25s.BM25` (`_bm25_class`).

    `build_index_from_ids` is the hook bm25s documents for building the index another way. The
    corpus-wide statistics (document frequencies, average length, idf) are computed first; each
    shard's scores then come from bm25s's own `_build_scores_and_indices_for_matrix` with those
    statistics, so every score is bm25s's bit for bit, and they are copied into the final arrays
    at each term's next free slot. Shards go in passage order, so each column's rows stay sorted,
    as bm25s sorts them.
    """

    def build_index_from_ids(self, unique_token_ids, corpus_token_ids: _FlatTokenIds, show_progress=True,
                             leave_progress=False):
        from bm25s.scoring import (_build_idf_array, _build_nonoccurrence_array,
                                   _build_scores_and_indices_for_matrix, _select_idf_scorer, _select_tfc_scorer)
        from tqdm.auto import tqdm

        n_docs, n_vocab = len(corpus_token_ids), len(unique_token_ids)
        avg_doc_len = corpus_token_ids.lengths().mean()
        shards = list(corpus_token_ids.shards(SHARD_TOKENS))
        pairs_per_shard, doc_frequencies = [], np.zeros(n_vocab, dtype=np.int64)
        for _, shard in shards:
            terms = shard.passage_terms()
            pairs_per_shard.append(len(terms))
            doc_frequencies += np.bincount(terms, minlength=n_vocab)
        frequency_of = dict(enumerate(doc_frequencies.tolist()))  # the form bm25s's helpers take
        if self.method in self.methods_requiring_nonoccurrence:
            self.nonoccurrence_array = _build_nonoccurrence_array(
                doc_frequencies=frequency_of, n_docs=n_docs, compute_idf_fn=_select_idf_scorer(self.idf_method),
                calculate_tfc_fn=_select_tfc_scorer(self.method), l_d=avg_doc_len, l_avg=avg_doc_len, k1=self.k1,
                b=self.b, delta=self.delta, dtype=self.dtype)
        else:
            self.nonoccurrence_array = None
        idf_array = _build_idf_array(doc_frequencies=frequency_of, n_docs=n_docs,
                                     compute_idf_fn=_select_idf_scorer(self.idf_method), dtype=self.dtype)
        del frequency_of

        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(doc_frequencies, out=indptr[1:])
        data = np.empty(int(indptr[-1]), dtype=self.dtype)
        indices = np.empty(int(indptr[-1]), dtype=self.int_dtype)
        next_slot = indptr[:-1].copy()
        for (first_row, shard), pairs in zip(tqdm(shards, desc="BM25 scoring", disable=not show_progress),
                                             pairs_per_shard):
            scores, rows, terms = _build_scores_and_indices_for_matrix(
                corpus_token_ids=shard, idf_array=idf_array, avg_doc_len=avg_doc_len,
                doc_frequencies={0: pairs},  # bm25s sizes its arrays by the sum: this shard's pairs
                k1=self.k1, b=self.b, delta=self.delta, show_progress=False, dtype=self.dtype,
                int_dtype=self.int_dtype, method=self.method, nonoccurrence_array=self.nonoccurrence_array)
            order = np.argsort((terms.astype(np.int64) << 32) | rows)  # unique keys: (term, row) order
            terms, rows, scores = terms[order], rows[order], scores[order]
            starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]])
            rank = np.arange(len(terms)) - np.repeat(starts, np.diff(np.r_[starts, len(terms)]))
            slots = next_slot[terms] + rank
            data[slots] = scores
            indices[slots] = rows + first_row
            next_slot += np.bincount(terms, minlength=n_vocab)
        return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}


def _bm25_class():
    """`bm25s.BM25` with the sharded build (a class made here, as bm25s is imported lazily)."""
    import bm25s

    return type("ShardedBM25", (_ShardedBM25, bm25s.BM25), {})


def _analysis(language: str | None):
    """(stemmer, stopwords) for bm25s; both None without a language."""
    if language is None:
        return None, None
    import Stemmer

    return Stemmer.Stemmer(language), "en" if language == "english" else language


def _tokenize_corpus(passages: Sequence[Passage], language: str | None, show_progress: bool):
    """bm25s `Tokenized(ids, vocab)` of the passages' full texts, streamed one passage at a time.

    Tokens are exactly those of `bm25s.tokenize` (lower case, the same word pattern, stopwords
    dropped before stemming); `allow_empty=False` keeps a passage without words empty, as
    `bm25s.tokenize` does, so that it does not count as one token towards the average length.
    """
    import bm25s
    from tqdm.auto import tqdm

    stemmer, stopwords = _analysis(language)
    tokenizer = bm25s.tokenization.Tokenizer(stopwords=stopwords, stemmer=stemmer)
    ids, offsets = array.array("i"), array.array("q", [0])
    texts = (p.full_text() for p in tqdm(passages, desc="BM25 tokenizing", disable=not show_progress))
    for doc_ids in tokenizer.streaming_tokenize(texts, update_vocab=True, allow_empty=False):
        ids.extend(doc_ids)
        offsets.append(len(ids))
    flat = _FlatTokenIds(np.frombuffer(ids, dtype=np.int32), np.frombuffer(offsets, dtype=np.int64))
    return bm25s.tokenization.Tokenized(ids=flat, vocab=tokenizer.get_vocab_dict())


class BM25Index:
    """A BM25 index over passages (title + text), built in memory or loaded from a saved folder."""

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

        self.params = BM25Params(language, k1, b, method)
        self.passage_ids = [p.id for p in passages]
        self._show_progress = show_progress
        self._retriever = _bm25_class()(k1=k1, b=b, method=method)
        self._retriever.index(_tokenize_corpus(passages, language, show_progress), show_progress=show_progress)

    @classmethod
    def load(cls, folder: Path, passage_ids: Sequence[str], params: BM25Params, *, mmap: bool = True,
             show_progress: bool = False) -> BM25Index:
        """The index saved in `folder` (by `save`), its score matrix memory-mapped when `mmap`;
        `passage_ids` name its rows."""
        import bm25s

        index = cls.__new__(cls)
        index.params = params
        index.passage_ids = list(passage_ids)
        index._show_progress = show_progress
        index._retriever = bm25s.BM25.load(folder, mmap=mmap, show_progress=False)
        rows = index._retriever.scores["num_docs"]
        if rows != len(index.passage_ids):
            raise InputError(f"{folder}: a BM25 index of {rows} passages for a corpus of {len(index.passage_ids)}; "
                             "delete the folder to rebuild it")
        return index

    def save(self, folder: Path) -> None:
        """Write the index to `folder` whole or not at all (into a temporary sibling, sealed, then
        renamed), so that a reader finds a complete index or none."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            self._retriever.save(staging, show_progress=False)
            seal_folder(staging)
            staging.rename(folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _tokenize(self, texts: Sequence[str]):
        import bm25s

        stemmer, stopwords = _analysis(self.params.language)
        return bm25s.tokenize(list(texts), stopwords=stopwords, stemmer=stemmer, show_progress=self._show_progress)

    def query_token_ids(self, query: str) -> np.ndarray:
        """Columns of the index for the query's tokens, in query order, repeats kept, unknown
        tokens left out; int64 (tokens,)."""
        tokens = self._tokenize([query])
        words = {index: word for word, index in tokens.vocab.items()}
        vocab = self._retriever.vocab_dict
        return np.array([vocab[words[i]] for i in tokens.ids[0] if words[i] in vocab], dtype=np.int64)

    def pair_scores(self, query: str, rows: np.ndarray) -> np.ndarray:
        """BM25 score of `query` against the passages at `rows` (int, (m,)), float32 (m,).

        Reads only the query's columns of the sparse score matrix, not all N passages; each
        column's rows are sorted (bm25s sorts by column, then row), so a passage is found by
        binary search. The sum runs over the query's tokens in order in float32, as bm25s's
        `get_scores` does, so the scores are the same bit for bit.
        """
        rows = np.asarray(rows, dtype=np.int64)
        scores = np.zeros(len(rows), dtype=np.float32)
        matrix = self._retriever.scores
        data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
        columns = self.query_token_ids(query)
        for column in columns:
            start, end = int(indptr[column]), int(indptr[column + 1])
            column_rows = indices[start:end]
            found = np.searchsorted(column_rows, rows)
            hit = found < len(column_rows)
            hit[hit] = column_rows[found[hit]] == rows[hit]
            scores[hit] += data[start + found[hit]]
        if self._retriever.nonoccurrence_array is not None:  # BM25L / BM25+: a term's score where it is absent
            scores += self._retriever.nonoccurrence_array[columns].sum()
        return scores

    def search(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores (q, k') and passage row indices (q, k'), best first, k' = min(k, corpus size)."""
        k = min(k, len(self.passage_ids))
        indices, scores = self._retriever.retrieve(
            self._tokenize(queries), k=k, show_progress=self._show_progress, n_threads=1
        )
        return scores.astype(np.float32), indices.astype(np.int64)

    def run(self, query_ids: Sequence[str], queries: Sequence[str], k: int) -> Run:
        """A run over these queries; passages with a zero score are left out, as no term matched."""
        scores, indices = self.search(queries, k)
        return {
            query_id: {self.passage_ids[j]: float(s) for s, j in zip(row_s, row_i) if s > 0}
            for query_id, row_s, row_i in zip(query_ids, scores, indices)
        }


def shared_index(passages: Sequence[Passage], run: Path, params: BM25Params, *, context: Context | None = None,
                 digest: str | None = None, show_progress: bool = False) -> BM25Index:
    """The run's BM25 index of `passages`, memory-mapped: built and saved on first use, loaded after.

    Under torchrun rank 0 checks or builds it while the others wait at a barrier, then every rank
    loads it; every rank must call this. A saved index whose files differ from its seal is moved
    aside with a warning and built again. `digest` is the passages' `corpus_digest` where the caller has it.
    """
    context = context or Context()
    folder = RunLayout(run).bm25_index(params.key(digest or corpus_digest(passages)))
    if context.is_main and folder.is_dir():
        problem = folder_problem(folder)
        if problem is not None:
            quarantine(folder, problem, "the BM25 index is built again")
    if context.is_main and not folder.is_dir():
        logger.info("building the BM25 index of %d passages into %s", len(passages), folder)
        BM25Index(passages, language=params.language, k1=params.k1, b=params.b, method=params.method,
                  show_progress=show_progress).save(folder)
    barrier(context)
    return BM25Index.load(folder, [p.id for p in passages], params, show_progress=show_progress)
