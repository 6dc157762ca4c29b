"""SciFact loading shared by the teacher benchmarks (BM25 candidate lists of BEIR queries)."""

from __future__ import annotations

import sys
from pathlib import Path

from corpustune.data.beir import load_split
from corpustune.data.corpus import CorpusSpec, read_passages
from corpustune.retrieve.bm25 import BM25Index
from corpustune.retrieve.fusion import ranked

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def scifact_lists(split: str, num_queries: int | None, depth: int = 20):
    """(passages by id, queries by id, qrels, BM25 run of depth `depth`) for the first
    `num_queries` queries of `split` in file order."""
    if not (SCIFACT / "corpus.jsonl").exists():
        sys.exit(f"SciFact not found at {SCIFACT}")
    passages = {p.id: p for p in read_passages(CorpusSpec(path=SCIFACT))}
    queries, qrels = load_split(SCIFACT, split)
    ids = list(queries)[:num_queries]
    index = BM25Index(list(passages.values()))
    run = index.run(ids, [queries[q].text for q in ids], depth)
    return passages, {q: queries[q] for q in ids}, {q: qrels[q] for q in ids}, run, index


def list_pairs(passages, queries, run):
    """(query id, passage id, (query text, passage text)) of every list entry, list by list, best first."""
    return [
        (q, p, (queries[q].text, passages[p].full_text()))
        for q in queries
        for p in ranked(run.get(q, {}))
    ]
