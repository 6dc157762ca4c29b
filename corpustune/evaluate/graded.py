"""Held-out synthetic queries graded by the run's teacher instead of by their source passage alone.

A synthetic query's source passage is rarely its only good answer, so "the source passage is the
relevant one" marks a model down for ranking an equally good passage first, and it rewards a model
that learned to find the passage a query was written from more than one that ranks well. The
teacher rule pools, for each held-out query, its source passages and the top `POOL_DEPTH` of every
model of the interpolation grid, lets the run's teachers (`score.teachers`, fused as the score stage
fuses them) rank that pool, and grades by the teacher's rank: rank 1 has grade 3, ranks 2-3 grade 2,
ranks 4-10 grade 1, the rest 0. nDCG@10 against these grades measures how well a model's top 10
agrees with the teacher's ordering, on queries it never trained on.

On the runs measured (docs/ladder.md, `benchmarks/select_rules.py`) this rule chose the weight the
human decision queries said was best on all three, the source rule on one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from corpustune.data.beir import Qrels
from corpustune.data.records import Passage
from corpustune.parallel import Context
from corpustune.retrieve import Run
from corpustune.retrieve.fusion import ranked

POOL_DEPTH = 10

TeacherRanking = dict[str, dict[str, float]]  # query id -> pooled passage id -> fused teacher score


def pooled_passages(sources: Qrels, runs: Iterable[Run], depth: int = POOL_DEPTH) -> dict[str, list[str]]:
    """Query id -> the sorted ids of its judged (source) passages and of every run's top `depth`,
    for each query of `sources`."""
    runs = list(runs)
    return {q: sorted(set(judged) | {p for run in runs for p in ranked(run.get(q, {}))[:depth]})
            for q, judged in sources.items()}


def teacher_graded_qrels(scores: TeacherRanking, depth: int = POOL_DEPTH) -> Qrels:
    """Grades from the teacher's ranking of each query's pool: rank 1 -> 3, ranks 2-3 -> 2, ranks
    4-`depth` -> 1, the rest left out (grade 0). Ties go to the smaller passage id, so the grades do
    not depend on the order of the pool."""
    qrels = {}
    for q, by_passage in scores.items():
        order = sorted(by_passage, key=lambda p: (-by_passage[p], p))[:depth]
        qrels[q] = {p: 3 if i == 0 else 2 if i < 3 else 1 for i, p in enumerate(order)}
    return qrels


def teacher_ranking(pool: Mapping[str, Sequence[str]], queries: Mapping[str, str], passages: Sequence[Passage],
                    score_config, context: Context, *, run: Path, cache_dir: Path,
                    embedding_cache=None) -> TeacherRanking | None:
    """The run's teachers' fused scores of every (query, pooled passage) pair: query id -> passage id ->
    score, on rank 0 (None on the other ranks; every rank must call this, the scoring is collective).

    `queries`: query id -> text. Scores go through the score cache at `cache_dir` (the run's, so a
    pair the score stage scored is not scored again, and a re-run of the select stage scores nothing).
    """
    from corpustune.teach.cache import ScoreCache
    from corpustune.teach.ensemble import combine_flat
    from corpustune.teach.stage import teacher_scores

    by_id = {p.id: p for p in passages}
    order = list(pool)
    pairs = [(queries[q], by_id[p].full_text()) for q in order for p in pool[q]]
    passage_ids = [p for q in order for p in pool[q]]
    cache = ScoreCache(cache_dir, rank=context.rank)
    per_teacher = teacher_scores(pairs, passage_ids, score_config, passages, cache, context, run=run,
                                 embedding_cache=embedding_cache)
    cache.close()
    if not context.is_main:
        return None
    fused = combine_flat(per_teacher, [len(pool[q]) for q in order], [t.weight for t in score_config.teachers],
                         score_config.ensemble_normalization)
    return {q: dict(zip(pool[q], map(float, scores))) for q, scores in zip(order, fused)}
