"""From retriever runs to candidate lists: fusion, the retriever filter, held-out exclusion.

`build_lists` is pure (runs in, lists out) so that the rules can be tested on hand-made runs;
`mine` runs the retrievers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from corpustune.data.records import Candidate, CandidateList, Passage, Query
from corpustune.mine.config import MineConfig
from corpustune.parallel import Context
from corpustune.retrieve import Run
from corpustune.retrieve.bm25 import BM25Params, shared_index
from corpustune.retrieve.fusion import ranked, reciprocal_rank_fusion
from corpustune.retrieve.search import BM25Retriever, DenseRetriever, Retriever


@dataclass
class MineStats:
    queries: int = 0
    kept: int = 0
    dropped_no_source: int = 0
    """Queries without a source passage (no positive to train on)."""
    dropped_source_heldout: int = 0
    """Queries whose source passage is held out (they belong to the held-out test set)."""
    dropped_source_unknown: int = 0
    """Queries whose source passage is not in the corpus."""
    dropped_retriever_filter: int = 0
    """Source passage in no retriever's top N."""
    heldout_candidates_removed: int = 0
    """Held-out passages found in fused candidates and removed."""
    short_lists: int = 0
    """Lists with fewer than list_size passages (too few candidates retrieved)."""

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def build_lists(
    queries: Sequence[Query],
    runs: Mapping[str, Run],
    config: MineConfig,
    *,
    heldout: set[str] = frozenset(),  # type: ignore[assignment]
    corpus_ids: set[str] | None = None,
    stats: MineStats | None = None,
) -> list[CandidateList]:
    """One list per kept query: its source passage first, then the best fused candidates.

    runs: retriever name -> run over these queries. A query is kept when it has a source passage
    that is in the corpus, not held out, and (if `config.filter_top_n`) within the top N of at
    least one retriever. Held-out passages never enter a list.
    """
    stats = stats if stats is not None else MineStats()
    names = list(runs)
    fused = reciprocal_rank_fusion([runs[n] for n in names], k=config.rrf_k)
    rank_of = {n: {q: {p: r for r, p in enumerate(ranked(s), start=1)} for q, s in runs[n].items()} for n in names}
    lists = []
    for query in queries:
        stats.queries += 1
        source = query.source_id
        if source is None:
            stats.dropped_no_source += 1
            continue
        if source in heldout:
            stats.dropped_source_heldout += 1
            continue
        if corpus_ids is not None and source not in corpus_ids:
            stats.dropped_source_unknown += 1
            continue
        if config.filter_top_n is not None and not any(
            rank_of[n].get(query.id, {}).get(source, config.filter_top_n + 1) <= config.filter_top_n for n in names
        ):
            stats.dropped_retriever_filter += 1
            continue
        scores = fused.get(query.id, {})

        def candidate(passage_id: str) -> Candidate:
            return Candidate(
                passage_id=passage_id,
                fused_score=scores.get(passage_id, 0.0),
                ranks={n: rank_of[n][query.id][passage_id] for n in names if passage_id in rank_of[n].get(query.id, {})},
                scores={n: runs[n][query.id][passage_id] for n in names if passage_id in runs[n].get(query.id, {})},
            )

        chosen = [candidate(source)]
        for passage_id in ranked(scores):
            if len(chosen) == config.list_size:
                break
            if passage_id == source:
                continue
            if passage_id in heldout:
                stats.heldout_candidates_removed += 1
                continue
            chosen.append(candidate(passage_id))
        stats.short_lists += len(chosen) < config.list_size
        stats.kept += 1
        lists.append(CandidateList(query_id=query.id, positive_id=source, candidates=tuple(chosen)))
    return lists


def build_retrievers(
    passages: Sequence[Passage], config: MineConfig, *, cache=None, show_progress=False, device: str | None = None,
    run: Path | None = None, context: Context | None = None,
) -> list[Retriever]:
    """The retrievers `config` asks for; dense models run on `device` (None: sentence-transformers' pick).

    With a run folder, BM25 uses the run's saved index (`shared_index`, which the BM25 teacher
    reads too; under torchrun `context`'s rank 0 builds it); without one, an index in memory.
    """
    retrievers: list[Retriever] = []
    if config.bm25:
        index = (shared_index(passages, run, BM25Params(config.bm25_language), context=context,
                              show_progress=show_progress) if run is not None else None)
        retrievers.append(BM25Retriever(passages, config.bm25_language, index=index))
    for settings in config.dense:
        retrievers.append(DenseRetriever(passages, settings, cache=cache, show_progress=show_progress, device=device))
    if not retrievers:
        raise ValueError("mining needs at least one retriever: enable bm25 or give a dense model")
    return retrievers


def retrieve_all(retrievers: Sequence[Retriever], queries: Sequence[Query], depth: int) -> dict[str, Run]:
    """retriever name -> run of depth `depth` over `queries`."""
    ids, texts = [q.id for q in queries], [q.text for q in queries]
    runs = {}
    for retriever in retrievers:
        name = retriever.name
        while name in runs:  # the same model twice with different prompts
            name += "'"
        runs[name] = retriever.run(ids, texts, depth)
    return runs
