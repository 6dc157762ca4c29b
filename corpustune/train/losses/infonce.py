"""InfoNCE over every distinct passage of the batch, with teacher-based false-negative masking.

    L_nce = (1 / N) sum_q -log [ exp(s_q,pos(q) / tau) / sum_{p not in M_q} exp(s_qp / tau) ]

s_qp = cos(e_q, e_p) over all P distinct passages of the (global) batch: every query's positive
and every passage of every list. M_q, the masked set of query q, holds each passage of q's own
list whose teacher score exceeds `fraction` x the top teacher score of that list, identified by
document id, so the passage is masked wherever it sits in the batch; q's own positive is never
masked. Tamber et al. 2025 (arXiv 2505.19274), section 3: tau = 0.01, fraction 0.6.

Passages are de-duplicated: a document that several lists share is one column, so it counts
once in every denominator.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def false_negative_mask(
    list_index: Tensor,
    teacher_scores: Tensor,
    valid: Tensor,
    positive_index: Tensor,
    num_passages: int,
    fraction: float = 0.6,
) -> Tensor:
    """Bool (Q, P): True where passage p must not serve as a negative of query q.

    list_index (Q, L) columns of q's list passages; teacher_scores (Q, L); valid (Q, L) bool;
    positive_index (Q,) column of each query's positive.
    """
    fill = torch.finfo(teacher_scores.dtype).min
    top = teacher_scores.masked_fill(~valid, fill).max(dim=-1, keepdim=True).values  # (Q, 1)
    suspicious = (teacher_scores > fraction * top) & valid  # (Q, L)
    mask = _scatter_or(list_index, suspicious, num_passages)  # (Q, P)
    rows = torch.arange(list_index.shape[0], device=list_index.device)
    mask[rows, positive_index] = False  # the query's own positive stays
    return mask


def _scatter_or(list_index: Tensor, values: Tensor, num_passages: int) -> Tensor:
    """(Q, P) bool: True at column list_index[q, j] when values[q, j] (a duplicate slot cannot clear it)."""
    counts = torch.zeros(list_index.shape[0], num_passages, dtype=torch.int32, device=list_index.device)
    counts.scatter_add_(1, list_index, values.to(torch.int32))
    return counts > 0


def infonce(
    scores: Tensor,
    positive_index: Tensor,
    masked: Tensor,
    *,
    temperature: float = 0.01,
    num_queries: int | None = None,
) -> Tensor:
    """Cross-entropy of each query's positive column against its unmasked columns.

    scores (Q, P) cosines; positive_index (Q,); masked (Q, P) bool, False at the positive.
    Returns the sum over rows divided by `num_queries` (default: rows).
    """
    logits = (scores / temperature).masked_fill(masked, float("-inf"))  # (Q, P)
    rows = torch.arange(scores.shape[0], device=scores.device)
    per_query = torch.logsumexp(logits, dim=-1) - logits[rows, positive_index]  # (Q,)
    return per_query.sum() / (num_queries if num_queries is not None else scores.shape[0])


class InfoNCELoss(nn.Module):
    """Thin module: cosines of the queries with all distinct passages, masking, then `infonce`."""

    def __init__(self, temperature: float = 0.01, mask_fraction: float = 0.6):
        super().__init__()
        self.temperature = temperature
        self.mask_fraction = mask_fraction

    def forward(
        self,
        query_embeddings: Tensor,
        passage_embeddings: Tensor,
        list_index: Tensor,
        teacher_scores: Tensor,
        valid: Tensor,
        positive_index: Tensor,
        num_queries: int | None = None,
    ) -> Tensor:
        """query_embeddings (Q, d); passage_embeddings (P, d), all distinct passages of the batch
        (gathered from every rank under DDP); list_index (Q, L), teacher_scores (Q, L), valid (Q, L),
        positive_index (Q,) index rows of passage_embeddings."""
        queries = nn.functional.normalize(query_embeddings, dim=-1)  # (Q, d)
        passages = nn.functional.normalize(passage_embeddings, dim=-1)  # (P, d)
        scores = queries @ passages.T  # (Q, P)
        masked = false_negative_mask(
            list_index, teacher_scores, valid, positive_index, passages.shape[0], self.mask_fraction
        )
        return infonce(scores, positive_index, masked, temperature=self.temperature, num_queries=num_queries)
