"""Evaluate a retriever on queries with qrels: metrics, per-query values and the run itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from corpustune.data.beir import Qrels
from corpustune.data.records import Passage, Query
from corpustune.evaluate.metrics import DEFAULT_MEASURES, aggregate
from corpustune.retrieve import Run
from corpustune.retrieve.encode import EmbeddingCache
from corpustune.retrieve.search import Retriever, RetrieverSettings, build_retriever


@dataclass(frozen=True)
class Evaluation:
    retriever: str
    metrics: dict[str, float]
    num_queries: int
    run: Run


def evaluate_retriever(
    passages: Sequence[Passage],
    queries: dict[str, Query],
    qrels: Qrels,
    settings: RetrieverSettings,
    *,
    depth: int = 100,
    measures: Sequence[str] = DEFAULT_MEASURES,
    model=None,
    cache: EmbeddingCache | None = None,
    show_progress: bool = False,
) -> Evaluation:
    """Retrieve the top `depth` passages for each judged query and score the run."""
    retriever = build_retriever(passages, settings, model=model, cache=cache, show_progress=show_progress)
    return evaluate_queries(retriever, queries, qrels, depth=depth, measures=measures)


def evaluate_queries(
    retriever: Retriever,
    queries: dict[str, Query],
    qrels: Qrels,
    *,
    depth: int = 100,
    measures: Sequence[str] = DEFAULT_MEASURES,
) -> Evaluation:
    """Score an already built retriever on the judged queries (one index, many query sets)."""
    judged = [queries[q] for q in qrels if q in queries]
    run = retriever.run([q.id for q in judged], [q.text for q in judged], depth)
    return Evaluation(retriever.name, aggregate(qrels, run, measures), len(qrels), run)
