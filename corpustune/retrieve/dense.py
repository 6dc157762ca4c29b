"""Exact top-k search by inner product, chunked so that the score matrix stays small."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from corpustune.errors import require_extra
from corpustune.retrieve import Run


def exact_top_k(
    queries: np.ndarray, passages: np.ndarray, k: int, *, queries_per_chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k passages per query by inner product.

    queries: (q, d); passages: (n, d). Returns scores (q, min(k, n)) float32, best first, and
    the passage row indices (q, min(k, n)) int64.
    """
    k = min(k, passages.shape[0])
    passage_matrix = torch.from_numpy(np.ascontiguousarray(passages, dtype=np.float32))
    all_scores, all_indices = [], []
    for start in range(0, queries.shape[0], queries_per_chunk):
        chunk = torch.from_numpy(np.ascontiguousarray(queries[start : start + queries_per_chunk], dtype=np.float32))
        scores = chunk @ passage_matrix.T  # (chunk, n)
        top = torch.topk(scores, k, dim=1)
        all_scores.append(top.values.numpy())
        all_indices.append(top.indices.numpy())
    if not all_scores:
        return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=np.int64)
    return np.concatenate(all_scores), np.concatenate(all_indices)


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
