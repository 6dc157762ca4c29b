"""Fusing several runs into one."""

from __future__ import annotations

from collections.abc import Sequence

from corpustune.retrieve import Run


def ranked(scores: dict[str, float]) -> list[str]:
    """Passage ids best first; ties broken by id so that the order is deterministic."""
    return sorted(scores, key=lambda passage_id: (-scores[passage_id], passage_id))


def reciprocal_rank_fusion(runs: Sequence[Run], k: float = 60.0, weights: Sequence[float] | None = None) -> Run:
    """RRF: score(d) = sum over runs of weight / (k + rank of d in that run), rank starting at 1.

    A passage missing from a run adds nothing for it; a query missing from every run is absent.
    """
    weights = list(weights) if weights is not None else [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} weights for {len(runs)} runs")
    fused: Run = {}
    for run, weight in zip(runs, weights):
        for query_id, scores in run.items():
            target = fused.setdefault(query_id, {})
            for rank, passage_id in enumerate(ranked(scores), start=1):
                target[passage_id] = target.get(passage_id, 0.0) + weight / (k + rank)
    return fused


def truncate(run: Run, depth: int) -> Run:
    """Keep the `depth` best passages of each query."""
    return {q: {p: scores[p] for p in ranked(scores)[:depth]} for q, scores in run.items()}
