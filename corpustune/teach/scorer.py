"""Scoring every (query, passage) pair of many lists with one teacher: cached, chunked, sharded.

All pairs of all lists are pooled, de-duplicated and looked up in the score cache; the missing
ones are sorted by length (longest first) and cut into chunks that do not depend on the number of
processes. Chunk i is scored by rank i mod world, so one process and N processes compute every
chunk identically and produce exactly the same scores. Rank 0 then reads all ranks' logs.

A teacher with a `prepare(pairs)` method (`PreparingTeacher`) is first handed every distinct pair
of the request, cached or not, the same on every rank, so that it can plan work shared by many
chunks (the bi-encoder embeds each text once) in a way that does not depend on the rank or on
what the cache already holds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from corpustune.parallel import Context, barrier, shard
from corpustune.teach.base import Pair, Teacher
from corpustune.teach.cache import ScoreCache, pair_key


@dataclass
class ScoringReport:
    pairs: int = 0
    distinct_pairs: int = 0
    cached_pairs: int = 0
    scored_pairs: int = 0
    seconds: float = 0.0
    teachers: list[str] = field(default_factory=list)


def plan_chunks(pairs: Sequence[Pair], chunk_size: int) -> list[list[int]]:
    """Indices of `pairs` sorted by character length (longest first, ties by position), cut into
    chunks of `chunk_size`."""
    order = sorted(range(len(pairs)), key=lambda i: (-(len(pairs[i][0]) + len(pairs[i][1])), i))
    return [order[start : start + chunk_size] for start in range(0, len(order), chunk_size)]


def score_pairs(
    pairs: Sequence[Pair],
    teacher: Teacher,
    cache: ScoreCache,
    context: Context,
    *,
    chunk_size: int = 256,
    report: ScoringReport | None = None,
    show_progress: bool = False,
    passage_ids: Sequence[str] | None = None,
) -> np.ndarray | None:
    """Scores of `pairs` (float32, input order) on rank 0; None on the other ranks.

    Every rank must call this with the same pairs; the cache folder must be shared by the ranks.
    `passage_ids[i]` names the passage of `pairs[i]`: a teacher with `score_ids` (`IdTeacher`)
    is then given (query text, passage id) pairs instead of texts. Cache keys stay by text.
    """
    report = report if report is not None else ScoringReport()
    started = time.perf_counter()
    keys = [pair_key(teacher.id, q, p) for q, p in pairs]
    cached = cache.load()
    score_ids = getattr(teacher, "score_ids", None) if passage_ids is not None else None
    todo_index: dict[str, int] = {}
    todo: list[Pair] = []
    todo_ids: list[str] = []
    for i, (key, pair) in enumerate(zip(keys, pairs)):
        if key not in cached and key not in todo_index:
            todo_index[key] = len(todo)
            todo.append(pair)
            if score_ids is not None:
                todo_ids.append(passage_ids[i])
    todo_keys = list(todo_index)
    barrier(context)  # every rank must plan from the same cache state, before any rank appends to it
    report.teachers.append(teacher.id)
    report.pairs += len(pairs)
    report.distinct_pairs += len(set(keys))
    report.cached_pairs += len(set(keys)) - len(todo)
    report.scored_pairs += len(todo)
    prepare = getattr(teacher, "prepare", None)  # optional: see `PreparingTeacher`
    if prepare is not None and todo:
        prepare(list(dict.fromkeys(pairs)))  # every pair, cached ones too: the same plan on every rank and on resume
    chunks = shard(plan_chunks(todo, chunk_size), context)
    progress = tqdm(
        total=sum(len(c) for c in chunks), desc=f"scoring {teacher.id}", unit="pair",
        disable=not show_progress or not context.is_main,
    )
    for chunk in chunks:
        if score_ids is not None:
            scores = score_ids([(todo[i][0], todo_ids[i]) for i in chunk])
        else:
            scores = teacher.score([todo[i] for i in chunk])
        cache.append([todo_keys[i] for i in chunk], scores.tolist())
        progress.update(len(chunk))
    progress.close()
    barrier(context)
    report.seconds += time.perf_counter() - started
    if not context.is_main:
        return None
    merged = cache.load()
    return np.array([merged[k] for k in keys], dtype=np.float32)
