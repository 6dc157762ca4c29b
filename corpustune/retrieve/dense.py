"""Exact top-k search by inner product, blocked over queries and passages so that the score matrix
stays small (queries_per_chunk x passages_per_block) whatever the corpus size."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from corpustune.errors import require_extra
from corpustune.retrieve import Run


def block_top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best columns of each row of `scores` (q, b), best first, equal scores by column.

    Returns values (q, k) and column indices (q, k) int64. `torch.topk` finds the k-th best value
    of each row, but which of several columns equal to it it returns is unspecified; here every
    column above it is taken, then the lowest-numbered columns equal to it, so the result is the
    one a stable sort gives.
    """
    kth = torch.topk(scores, k, dim=1).values[:, -1:]  # (q, 1)
    chosen = scores > kth  # (q, b)
    level = scores == kth  # (q, b)
    missing = k - chosen.sum(dim=1, keepdim=True)  # (q, 1), >= 1
    crowded = (level.sum(dim=1, keepdim=True) > missing).squeeze(1)  # (q,) rows with more ties than places
    if crowded.any():  # rare with real embeddings: a cumulative count over just those rows
        level[crowded] &= level[crowded].cumsum(dim=1) <= missing[crowded]
    chosen |= level
    _, columns = chosen.nonzero(as_tuple=True)  # row-major: columns ascending within a row
    columns = columns.view(scores.shape[0], k)  # (q, k)
    values = scores.gather(1, columns)  # (q, k)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices  # ties keep column order
    return values.gather(1, order), columns.gather(1, order)


def merge_top_k(values: torch.Tensor, indices: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best of each row of candidates `values` (q, c) with passage `indices` (q, c): best
    first, equal scores by lower passage index (c is small: two top-k lists side by side)."""
    by_index = torch.sort(indices, dim=1, stable=True)  # (q, c)
    values = values.gather(1, by_index.indices)  # (q, c) in passage order
    order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]  # (q, k)
    return values.gather(1, order), by_index.values.gather(1, order)


def exact_top_k(
    queries: np.ndarray,
    passages: np.ndarray,
    k: int,
    *,
    queries_per_chunk: int = 1024,
    passages_per_block: int = 16384,
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
            merged = merge_top_k(torch.cat([best_values[first : first + queries_per_chunk], top_values], dim=1),
                                 torch.cat([best_indices[first : first + queries_per_chunk], top_columns + start],
                                           dim=1), k)
            values.append(merged[0])
            indices.append(merged[1])
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
