"""Training losses: pure tensor functions plus thin modules over embeddings."""

from corpustune.train.losses.combined import CombinedLoss, LossParts
from corpustune.train.losses.infonce import InfoNCELoss, false_negative_mask, infonce
from corpustune.train.losses.listwise import ListwiseDistillationLoss, list_cosines, listwise_kl

__all__ = [
    "CombinedLoss",
    "InfoNCELoss",
    "ListwiseDistillationLoss",
    "LossParts",
    "false_negative_mask",
    "infonce",
    "list_cosines",
    "listwise_kl",
]
