"""Full-corpus evaluation split across torchrun ranks: each rank embeds and searches its slice.

Each rank builds an ordinary `DenseRetriever` over its contiguous slice of the corpus (so its
encoding and its N/world x d matrix are all it holds), retrieves the top k of its slice for every
query, and the ranks' runs are gathered and merged into the top k of the whole corpus: the run one
process would return, up to float rounding. The slices' passages are disjoint, so merging is a
union followed by a cut at k (ties by passage id, as `fusion.ranked` orders).

stream-29's `EmbeddingCache.sharded` shares the *encoding* of one cache entry among the ranks; this
module shards the search as well and needs nothing from it: the two compose, since each slice's
`DenseRetriever` takes whatever cache it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.distributed as dist

from corpustune.data.records import Passage
from corpustune.parallel import Context, contiguous_share
from corpustune.retrieve import Run
from corpustune.retrieve.fusion import truncate


def merge_runs(runs: Sequence[Run], k: int) -> Run:
    """The top `k` of each query over runs of disjoint passage sets (every query of every run kept)."""
    merged: Run = {}
    for run in runs:
        for query_id, scores in run.items():
            merged.setdefault(query_id, {}).update(scores)
    return truncate(merged, k)


class ShardedDenseRetriever:
    """`DenseRetriever` over this rank's slice of `passages`; `run` is collective (every rank calls
    it with the same queries) and returns the whole corpus's top k on every rank."""

    def __init__(self, passages: Sequence[Passage], settings, context: Context, **options):
        from corpustune.retrieve.search import DenseRetriever

        share = contiguous_share(len(passages), context)
        start, end = share.start, share.stop
        if context.distributed:  # a model loaded here goes to this rank's GPU, not every rank's to cuda:0
            options.setdefault("device", str(context.device))
        self.context = context
        self.name = f"dense:{settings.model}"
        self.local = DenseRetriever(passages[start:end], settings, **options) if end > start else None

    def run(self, query_ids: Sequence[str], query_texts: Sequence[str], k: int) -> Run:
        local = self.local.run(query_ids, query_texts, k) if self.local is not None else {q: {} for q in query_ids}
        if not self.context.distributed:
            return local
        gathered: list[Run | None] = [None] * self.context.world_size
        dist.all_gather_object(gathered, local)
        return merge_runs([run for run in gathered if run is not None], k)
