"""Exact top-k search by inner product, blocked over queries and passages so that the score matrix
stays small (queries_per_chunk x passages_per_block) whatever the corpus size."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from corpustune.errors import require_extra
from corpustune.retrieve import Run


def block_top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best columns of each row of `scores` (q, b), equal scores by lower column: values
    (q, k) and column indices (q, k) int64, in no particular order (`best_first` orders them).

    `torch.topk` leaves open which of several equal columns it returns; asking it for k + 1 shows
    the rows where the k-th value goes on past place k (rare with real embeddings), and only those
    rows are sorted in full (a stable sort: equal values keep column order).
    """
    take = min(k + 1, scores.shape[1])
    top = torch.topk(scores, take, dim=1, sorted=True)  # (q, take), values descending
    values, columns = top.values[:, :k], top.indices[:, :k]  # (q, k)
    if take > k:
        crowded = (top.values[:, k] == top.values[:, k - 1]).nonzero().squeeze(1)  # (c,)
        if len(crowded):
            full = torch.sort(scores[crowded], dim=1, descending=True, stable=True)  # (c, b)
            values[crowded], columns[crowded] = full.values[:, :k], full.indices[:, :k]
    return values, columns


def best_first(values: torch.Tensor, indices: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best of each row of `values` (q, c) float32 with distinct passage `indices` (q, c)
    below 2**32: best first, equal values by lower index.

    One `topk` over int64 keys that order as (value, -index) do, so no two keys are equal and the
    result does not depend on how topk breaks ties (stable sorts of small rows are far slower).
    """
    values = values + 0.0  # -0.0 becomes +0.0: equal scores must get equal key halves
    bits = values.view(torch.int32).to(torch.int64)  # (q, c)
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # (q, c) increasing as the float increases
    keys = (ordered << 32) | (0xFFFFFFFF - indices)  # (q, c) a lower index is a larger key
    chosen = torch.topk(keys, k, dim=1).indices  # (q, k) best first
    return values.gather(1, chosen), indices.gather(1, chosen)


def exact_top_k(
    queries: np.ndarray,
    passages: np.ndarray,
    k: int,
    *,
    queries_per_chunk: int = 1024,
    passages_per_block: int = 65536,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k passages per query by inner product, equal scores ranked by passage row.

    queries: (q, d); passages: (n, d), e.g. a memory-mapped cache entry, read one block of
    `passages_per_block` rows at a time and moved to `device` (None: CPU; a CUDA device scores on
    the GPU). Each block is scored against every chunk of `queries_per_chunk` queries and merged
    into a running top-k, so memory is bounded by one block and one chunk x block score matrix.
    Returns scores (q, min(k, n)) float32, best first, and the passage row indices (q, min(k, n))
    int64.
    """
    k = min(k, passages.shape[0])
    count = queries.shape[0]
    if count == 0 or k == 0:
        return np.zeros((count, k), dtype=np.float32), np.zeros((count, k), dtype=np.int64)
    device = torch.device(device or "cpu")
    query_matrix = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(device)  # (q, d)
    best_values = torch.full((count, 0), 0.0, device=device)
    best_indices = torch.zeros((count, 0), dtype=torch.int64, device=device)
    for start in range(0, passages.shape[0], passages_per_block):
        # a copy of one block: a memory-mapped cache entry is read-only, which torch cannot wrap
        block = torch.from_numpy(np.array(passages[start : start + passages_per_block], dtype=np.float32))
        block = block.to(device)  # (b, d)
        block_k = min(k, block.shape[0])
        values, indices = [], []
        for first in range(0, count, queries_per_chunk):
            scores = query_matrix[first : first + queries_per_chunk] @ block.T  # (chunk, b)
            top_values, top_columns = block_top_k(scores, block_k)
            merged_values, merged_indices = best_first(
                torch.cat([best_values[first : first + queries_per_chunk], top_values], dim=1),  # (chunk, <= 2k)
                torch.cat([best_indices[first : first + queries_per_chunk], top_columns + start], dim=1),
                min(k, best_values.shape[1] + block_k),
            )
            values.append(merged_values)
            indices.append(merged_indices)
        best_values, best_indices = torch.cat(values), torch.cat(indices)  # (q, <= k)
    return best_values.cpu().numpy(), best_indices.cpu().numpy()


def faiss_top_k(queries: np.ndarray, passages: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The same exact search through a faiss flat inner-product index (extra `faiss`)."""
    faiss = require_extra("faiss", "faiss")
    index = faiss.IndexFlatIP(passages.shape[1])
    index.add(np.ascontiguousarray(passages, dtype=np.float32))
    scores, indices = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, passages.shape[0]))
    return scores, indices.astype(np.int64)


def to_run(
    query_ids: Sequence[str], passage_ids: Sequence[str], scores: np.ndarray, indices: np.ndarray
) -> Run:
    """Turn top-k matrices into a run: query id -> passage id -> score."""
    return {
        query_id: {passage_ids[j]: float(s) for s, j in zip(row_scores, row_indices)}
        for query_id, row_scores, row_indices in zip(query_ids, scores, indices)
    }
