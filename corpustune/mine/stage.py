"""The mining stage over a run folder: RUN/queries -> RUN/candidates.

Reads the run's queries and training qrels (the queries to mine; without them, every query with
a source id); held-out passages are the source ids of the held-out qrels. Writes one
CandidateList per kept query, positive first, and the mining stats (paths: `RunLayout`).

Under `torchrun`, each rank mines a round-robin slice of the queries on its own device and rank 0
merges the slices in query order. The BM25 index is built once (by rank 0, into the run's cache)
and memory-mapped by every rank and by the BM25 teacher. With an embedding cache, each rank encodes
a contiguous share of the corpus into the shared cache entry, which every rank then searches
memory-mapped (without a cache every rank encodes the whole corpus).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from corpustune.data.atomic import write_json_atomic, write_jsonl_atomic
from corpustune.data.beir import read_qrels, read_queries
from corpustune.data.records import CandidateList, Passage, Query
from corpustune.errors import InputError
from corpustune.layout import RunLayout
from corpustune.mine.candidates import MineStats, build_lists, build_retrievers, retrieve_all
from corpustune.mine.config import MineConfig
from corpustune.parallel import barrier, init_distributed, shard


def training_queries(run: Path) -> tuple[list[Query], set[str]]:
    """The queries to mine (in file order) and the held-out passage ids."""
    layout = RunLayout(run)
    queries_path = layout.queries_file
    if not queries_path.exists():
        raise InputError(f"{queries_path} not found: generate queries first (corpustune generate) or put a BEIR queries.jsonl there")
    queries = read_queries(queries_path)
    train_path, heldout_path = layout.train_qrels, layout.heldout_qrels
    heldout = {p for judged in read_qrels(heldout_path).values() for p in judged} if heldout_path.exists() else set()
    if not train_path.exists():
        return list(queries.values()), heldout
    train = read_qrels(train_path)
    missing = [q for q in train if q not in queries]
    if missing:
        raise InputError(f"{train_path}: {len(missing)} query ids are not in {queries_path} (first: {missing[:5]})")
    selected = []
    for query_id in train:
        query = queries[query_id]
        if query.source_id is None and len(train[query_id]) == 1:
            # a BEIR query without a source id: its single judged passage is the source
            query = Query(query.id, query.text, query.type, next(iter(train[query_id])), query.generator,
                          query.prompt_version)
        selected.append(query)
    return selected, heldout


def mine_run(
    run: Path, passages: Sequence[Passage], config: MineConfig, *, cache=None, show_progress: bool = False
) -> MineStats | None:
    """Mine candidate lists for the run folder; returns the stats on rank 0, None elsewhere."""
    started = time.perf_counter()
    queries, heldout = training_queries(run)
    layout = RunLayout(run)
    if not queries:
        raise InputError(
            f"{layout.queries_file}: no training queries to mine (the generate stage kept none; its counts per type "
            f"and filter are in {layout.query_stats}); generate for more passages or another model"
        )
    out = layout.candidates_dir
    context = init_distributed()
    mine_queries = shard(queries, context)
    if cache is not None:  # each rank encodes its share of the corpus into the shared cache entry
        cache = cache.sharded(context)
    retrievers = build_retrievers(passages, config, cache=cache, show_progress=show_progress and context.is_main,
                                  device=str(context.device), run=run, context=context)
    runs = retrieve_all(retrievers, mine_queries, config.depth)
    stats = MineStats()
    lists = build_lists(mine_queries, runs, config, heldout=heldout, corpus_ids={p.id for p in passages}, stats=stats)
    if not context.distributed:
        return _write(layout, lists, stats, config, list(runs), heldout, time.perf_counter() - started)
    write_jsonl_atomic(out / f"part-{context.rank}.jsonl", (c.to_json() for c in lists))
    write_json_atomic(out / f"part-{context.rank}.stats.json", stats.to_json())
    barrier(context)
    if not context.is_main:
        return None
    merged: dict[str, CandidateList] = {}
    total = MineStats()
    for rank in range(context.world_size):
        part = out / f"part-{rank}.jsonl"
        with open(part, encoding="utf-8") as handle:
            for line in handle:
                record = CandidateList.from_json(json.loads(line))
                merged[record.query_id] = record
        for key, value in json.loads((out / f"part-{rank}.stats.json").read_text()).items():
            setattr(total, key, getattr(total, key) + value)
        os.remove(part)
        os.remove(out / f"part-{rank}.stats.json")
    ordered = [merged[q.id] for q in queries if q.id in merged]
    return _write(layout, ordered, total, config, list(runs), heldout, time.perf_counter() - started)


def _write(layout: RunLayout, lists, stats: MineStats, config: MineConfig, retrievers, heldout,
           seconds: float) -> MineStats:
    write_jsonl_atomic(layout.candidates_file, (c.to_json() for c in lists))
    write_json_atomic(
        layout.candidates_stats,
        {
            **stats.to_json(),
            "heldout_passages": len(heldout),
            "retrievers": retrievers,
            "config": config.model_dump(),
            "seconds": round(seconds, 2),
        },
    )
    return stats
