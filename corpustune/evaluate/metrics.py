"""Retrieval metrics through ir-measures (trec_eval semantics, graded gains).

Queries are those of the qrels: a query with no retrieved passages scores zero on every
measure instead of being left out of the mean, so that a retriever cannot gain by returning
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import ir_measures

from corpustune.data.beir import Qrels
from corpustune.retrieve import Run

DEFAULT_MEASURES = ("nDCG@10", "R@100", "RR@10")


def per_query(qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, dict[str, float]]:
    """measure -> query id -> value, for every query id of the qrels (missing ones are 0.0)."""
    parsed = [ir_measures.parse_measure(m) for m in measures]
    values: dict[str, dict[str, float]] = {m: {q: 0.0 for q in qrels} for m in measures}
    names = {str(p): m for p, m in zip(parsed, measures)}
    judged_run = {q: docs for q, docs in run.items() if q in qrels and docs}
    for metric in ir_measures.iter_calc(parsed, qrels, judged_run):
        values[names[str(metric.measure)]][metric.query_id] = float(metric.value)
    return values


def aggregate(qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, float]:
    """measure -> mean over the qrels' queries."""
    if not qrels:
        raise ValueError("cannot evaluate against empty qrels")
    return {m: sum(v.values()) / len(v) for m, v in per_query(qrels, run, measures).items()}
