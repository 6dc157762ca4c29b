"""Listwise distillation: KL divergence from the teacher's to the student's distribution over a list.

    p_T(q, j) = softmax_j(t_qj / tau_T)            t_qj = normalized teacher score in [0, 1]
    q_S(q, j) = softmax_j(cos(e_q, e_pj) / tau_S)
    L_list    = (1 / N) sum_q sum_j p_T(q, j) [log p_T(q, j) - log q_S(q, j)]

with N the number of queries in the (global) batch. Tamber, Kazi, Sourabh, Lin 2025,
"Conventional Contrastive Learning Often Falls Short" (arXiv 2505.19274), section 3; defaults
tau_S = 0.05, tau_T = 0.3.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def listwise_kl(
    student_scores: Tensor,
    teacher_scores: Tensor,
    valid: Tensor,
    *,
    student_temperature: float = 0.05,
    teacher_temperature: float = 0.3,
    num_queries: int | None = None,
) -> Tensor:
    """Forward KL(p_T || q_S) summed over the rows and divided by `num_queries` (default: rows).

    student_scores: (Q, L) cosine similarities; teacher_scores: (Q, L); valid: (Q, L) bool,
    False for padding slots of shorter lists (they get zero probability on both sides).
    `num_queries` is the global batch size when the rows are one rank's share.
    """
    fill = torch.finfo(student_scores.dtype).min
    student_logits = (student_scores / student_temperature).masked_fill(~valid, fill)  # (Q, L)
    teacher_logits = (teacher_scores.to(student_scores.dtype) / teacher_temperature).masked_fill(~valid, fill)  # (Q, L)
    log_q = torch.log_softmax(student_logits, dim=-1)  # (Q, L)
    log_p = torch.log_softmax(teacher_logits, dim=-1)  # (Q, L)
    p = log_p.exp() * valid  # (Q, L); exact zeros on padding
    per_query = (p * (log_p - log_q)).masked_fill(~valid, 0.0).sum(dim=-1)  # (Q,)
    return per_query.sum() / (num_queries if num_queries is not None else student_scores.shape[0])


def list_cosines(query_embeddings: Tensor, passage_embeddings: Tensor, list_index: Tensor) -> Tensor:
    """(Q, L) cosine of each query with its list's passages: query_embeddings (Q, d), passage_embeddings
    (P, d) of the distinct passages, list_index (Q, L) rows of passage_embeddings."""
    queries = nn.functional.normalize(query_embeddings, dim=-1)  # (Q, d)
    passages = nn.functional.normalize(passage_embeddings, dim=-1)  # (P, d)
    listed = passages[list_index]  # (Q, L, d): gather, each distinct passage encoded once
    return torch.einsum("qd,qld->ql", queries, listed)


class ListwiseDistillationLoss(nn.Module):
    """Thin module over `listwise_kl` taking embeddings: cosine of each query with its list passages."""

    def __init__(self, student_temperature: float = 0.05, teacher_temperature: float = 0.3):
        super().__init__()
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature

    def forward(
        self,
        query_embeddings: Tensor,
        passage_embeddings: Tensor,
        list_index: Tensor,
        teacher_scores: Tensor,
        valid: Tensor,
        num_queries: int | None = None,
    ) -> Tensor:
        """query_embeddings (Q, d), passage_embeddings (P, d) of the batch's distinct passages,
        list_index (Q, L) rows of passage_embeddings, teacher_scores (Q, L), valid (Q, L)."""
        return listwise_kl(
            list_cosines(query_embeddings, passage_embeddings, list_index),
            teacher_scores,
            valid,
            student_temperature=self.student_temperature,
            teacher_temperature=self.teacher_temperature,
            num_queries=num_queries,
        )
