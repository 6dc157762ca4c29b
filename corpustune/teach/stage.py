"""The scoring stage over a run folder: RUN/candidates -> RUN/scores.

Every list (positive first) is scored by each teacher through the cached, sharded scorer (under
`torchrun`, each rank's teachers run on its own device); several teachers are combined per list
(`ensemble.combine`); then the filters run (positive ranked first, top score not below the 25th
percentile of all top scores) and the survivors' scores are min-max normalized with the 1st / 99th
percentiles of all their scores, clipped to [0, 1].

Writes one ScoredList per kept query and the scoring stats; the score cache is run-level
(`RunLayout.score_cache`), so a change of filter settings rescores nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from corpustune.data.atomic import write_json_atomic, write_jsonl_atomic
from corpustune.data.beir import read_queries
from corpustune.data.lines import iter_jsonl
from corpustune.data.records import CandidateList, Passage, ScoredList
from corpustune.errors import InputError
from corpustune.layout import RunLayout
from corpustune.parallel import Context, init_distributed
from corpustune.teach import filters
from corpustune.teach.cache import ScoreCache
from corpustune.teach.config import ScoreConfig
from corpustune.teach.ensemble import combine_flat
from corpustune.teach.factory import build_teacher
from corpustune.teach.scorer import ScoringReport, score_pairs

if TYPE_CHECKING:
    from corpustune.retrieve.encode import EmbeddingCache


def read_candidates(path: Path) -> list[CandidateList]:
    if not path.exists():
        raise InputError(f"{path} not found: run `corpustune mine` first")
    lists = []
    for number, record in iter_jsonl(path):
        try:
            lists.append(CandidateList.from_json(record))
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{path}: line {number}: not a candidate list ({error})") from None
    return lists


def list_passage_ids(candidates: CandidateList) -> list[str]:
    """The positive first, then the other candidates in mined order (no duplicates)."""
    ids = [candidates.positive_id] if candidates.positive_id is not None else []
    ids += [c.passage_id for c in candidates.candidates if c.passage_id not in ids]
    return ids


def apply_filters(lists: Sequence[np.ndarray], config: ScoreConfig) -> tuple[np.ndarray, dict]:
    """Bool mask of the kept lists and a report of what each filter removed."""
    keep = np.ones(len(lists), dtype=bool)
    report: dict = {"lists": len(lists)}
    if config.require_positive_first:
        first = filters.positive_first(lists)
        report["removed_positive_not_first"] = int((keep & ~first).sum())
        keep &= first
    if config.top_score_percentile is not None:
        survivors = [s for s, k in zip(lists, keep) if k]
        high, threshold = filters.high_top_score(survivors, config.top_score_percentile)
        mask = np.zeros(len(lists), dtype=bool)
        mask[np.flatnonzero(keep)] = high
        report["removed_low_top_score"] = int(keep.sum() - mask.sum())
        report["top_score_threshold"] = threshold
        keep = mask
    report["kept"] = int(keep.sum())
    return keep, report


def list_pairs(layout: RunLayout, candidate_lists: Sequence[CandidateList],
               passages: Sequence[Passage]) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """The passage ids of each list (positive first) and the (query text, passage text) pairs of
    all lists, list after list."""
    queries = read_queries(layout.queries_file)
    by_id = {p.id: p for p in passages}
    ids_per_list, pairs = [], []
    for candidates in candidate_lists:
        if candidates.positive_id is None:
            raise InputError(f"candidate list of query {candidates.query_id!r} has no positive; re-run `corpustune mine`")
        query = queries.get(candidates.query_id)
        if query is None:
            raise InputError(f"query {candidates.query_id!r} of the candidate lists is not in {layout.queries_file}")
        ids = list_passage_ids(candidates)
        unknown = [p for p in ids if p not in by_id]
        if unknown:
            raise InputError(f"candidate list of query {query.id!r} names passages not in the corpus: {unknown[:5]}; "
                             "score with the corpus that was mined")
        ids_per_list.append(ids)
        pairs += [(query.text, by_id[p].full_text()) for p in ids]
    return ids_per_list, pairs


def teacher_scores(
    pairs: Sequence[tuple[str, str]],
    passage_ids: Sequence[str],
    config: ScoreConfig,
    passages: Sequence[Passage],
    cache: ScoreCache,
    context: Context,
    *,
    run: Path | None,
    embedding_cache: EmbeddingCache | None = None,
    report: ScoringReport | None = None,
    show_progress: bool = False,
) -> list[np.ndarray | None]:
    """Each teacher of `config`, one after another (a model is freed before the next loads): its raw
    scores of the (query text, passage text) `pairs` (`passage_ids`: the passage of each pair), as
    `score_pairs` returns them (float32 on rank 0, None elsewhere)."""
    per_teacher = []
    for spec in config.teachers:
        teacher = build_teacher(spec, passages, device=str(context.device), embedding_cache=embedding_cache,
                                run=run, context=context)
        per_teacher.append(score_pairs(pairs, teacher, cache, context, chunk_size=config.chunk_size, report=report,
                                       show_progress=show_progress, passage_ids=passage_ids))
        del teacher
    return per_teacher


def score_run(
    run: Path,
    passages: Sequence[Passage],
    config: ScoreConfig,
    *,
    show_progress: bool = False,
    embedding_cache: EmbeddingCache | None = None,
) -> dict | None:
    """Score the run folder's candidate lists; returns the stats on rank 0, None elsewhere.

    A bi-encoder teacher reads corpus embeddings from `embedding_cache` where its model made them;
    a BM25 teacher reads the run's BM25 index (the one mining saved) and scores pairs by passage id.

    Scores are cached in the run-level score cache, keyed by teacher id, query and passage text,
    so that they survive a change of filter settings.
    """
    started = time.perf_counter()
    layout = RunLayout(run)
    candidate_lists = read_candidates(layout.candidates_file)
    if not candidate_lists:
        raise InputError(
            f"{layout.candidates_file}: no candidate lists to score (mining kept no query; what it dropped is in "
            f"{layout.candidates_stats}); a smaller corpus may need --filter-top-n 0 (no retriever filter)"
        )
    ids_per_list, pairs = list_pairs(layout, candidate_lists, passages)
    passage_ids = [passage_id for ids in ids_per_list for passage_id in ids]  # the passage of each pair
    scoring = ScoringReport()
    context = init_distributed()
    cache = ScoreCache(layout.score_cache, rank=context.rank)
    per_teacher = teacher_scores(pairs, passage_ids, config, passages, cache, context, run=run,
                                 embedding_cache=embedding_cache, report=scoring, show_progress=show_progress)
    cache.close()
    if not context.is_main:
        return None
    combined = combine_flat(per_teacher, [len(ids) for ids in ids_per_list], [t.weight for t in config.teachers],
                            config.ensemble_normalization)
    keep, report = apply_filters(combined, config)
    kept = [s for s, k in zip(combined, keep) if k]
    low, high = filters.percentile_bounds(kept, config.normalize_lower_percentile, config.normalize_upper_percentile)
    records = [
        ScoredList(
            query_id=candidates.query_id,
            positive_id=candidates.positive_id,
            passage_ids=tuple(ids),
            teacher_scores=tuple(float(x) for x in filters.min_max(scores, low, high)),
        )
        for candidates, ids, scores, k in zip(candidate_lists, ids_per_list, combined, keep)
        if k
    ]
    write_jsonl_atomic(layout.scores_file, (r.to_json() for r in records))
    stats = {
        **report,
        "normalization_bounds": [low, high],
        "scoring": asdict(scoring),
        "config": config.model_dump(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json_atomic(layout.scores_stats, stats)
    return stats
