"""The training objective L = w_list * L_list + w_nce * L_nce (an arm sets a weight to 0)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from corpustune.train.losses.infonce import InfoNCELoss
from corpustune.train.losses.listwise import ListwiseDistillationLoss


@dataclass(frozen=True)
class LossParts:
    total: Tensor
    listwise: Tensor | None
    infonce: Tensor | None


class CombinedLoss(nn.Module):
    """Weighted sum of listwise distillation and InfoNCE; a term of weight 0 is not computed."""

    def __init__(
        self,
        listwise_weight: float = 1.0,
        infonce_weight: float = 0.1,
        *,
        student_temperature: float = 0.05,
        teacher_temperature: float | None = 0.3,
        infonce_temperature: float = 0.01,
        mask_fraction: float = 0.6,
    ):
        super().__init__()
        if listwise_weight == 0 and infonce_weight == 0:
            raise ValueError("both loss weights are 0; nothing would be trained")
        if listwise_weight and teacher_temperature is None:
            raise ValueError("the listwise term needs a teacher temperature")
        self.listwise_weight = listwise_weight
        self.infonce_weight = infonce_weight
        self.listwise = (
            ListwiseDistillationLoss(student_temperature, teacher_temperature) if listwise_weight else None
        )
        self.infonce = InfoNCELoss(infonce_temperature, mask_fraction)

    @classmethod
    def from_config(cls, config, teacher_temperature: float | None = None) -> CombinedLoss:
        """The loss of a TrainConfig; `teacher_temperature` replaces the config's (required when
        the config says `auto` and the arm has a listwise term: the trainer calibrates it)."""
        listwise_weight, infonce_weight = config.loss_weights()
        if teacher_temperature is None and config.teacher_temperature != "auto":
            teacher_temperature = config.teacher_temperature
        return cls(
            listwise_weight,
            infonce_weight,
            student_temperature=config.student_temperature,
            teacher_temperature=teacher_temperature,
            infonce_temperature=config.infonce_temperature,
            mask_fraction=config.mask_fraction,
        )

    def forward(
        self,
        query_embeddings: Tensor,
        passage_embeddings: Tensor,
        list_index: Tensor,
        teacher_scores: Tensor,
        valid: Tensor,
        positive_index: Tensor,
        num_queries: int | None = None,
    ) -> LossParts:
        """Shapes as in the two losses: (Q, d), (P, d), (Q, L), (Q, L), (Q, L), (Q,)."""
        listwise = infonce = None
        total = query_embeddings.new_zeros(())
        if self.listwise is not None:
            listwise = self.listwise(query_embeddings, passage_embeddings, list_index, teacher_scores, valid, num_queries)
            total = total + self.listwise_weight * listwise
        if self.infonce_weight:
            infonce = self.infonce(
                query_embeddings, passage_embeddings, list_index, teacher_scores, valid, positive_index, num_queries
            )
            total = total + self.infonce_weight * infonce
        return LossParts(total, listwise, infonce)
