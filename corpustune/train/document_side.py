"""The frozen document side of query-side tuning (`train.tune: query`): the base model's passage
embeddings, computed once, as an index built with the base model holds them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from corpustune.data.records import Passage
from corpustune.retrieve.texts import PassageTexts


@dataclass(frozen=True)
class PassageTable:
    """Fixed passage embeddings: passage `id` is row `rows[id]` of `embeddings` (needed, d) float32."""

    rows: dict[str, int]
    embeddings: torch.Tensor

    def take(self, passage_ids: Sequence[str]) -> torch.Tensor:
        """(len(passage_ids), d) rows in the order of `passage_ids`."""
        index = torch.as_tensor([self.rows[p] for p in passage_ids], dtype=torch.long)
        return self.embeddings.index_select(0, index.to(self.embeddings.device))


def base_passage_table(document_model, passages: Sequence[Passage], needed: Collection[str], *, prompt: str,
                       cache, device: torch.device, bf16: bool = False) -> PassageTable:
    """The `needed` passages' embeddings by `document_model` (the untouched base model).

    The whole corpus is encoded in corpus order through `cache` (an EmbeddingCache): the request a
    dense miner with the same model and prompt made, so mining's cached embeddings are reused and
    evaluation later reuses these. The model's own maximum length applies, not
    `train.passage_max_tokens`: the vectors must be the ones the user's index holds. Under
    torchrun, a cache of the process group (`EmbeddingCache.sharded`) has each rank encode a share.
    `bf16`: encode under bf16 autocast (as mining and evaluation do where `precision: auto` means it).
    """
    vectors = cache.encode(document_model, PassageTexts(passages), prompt=prompt, show_progress=True,
                           description="base passages", bf16=bf16)  # (N, d), memory-mapped
    wanted = set(needed)
    keep = [i for i, p in enumerate(passages) if p.id in wanted]
    rows = {passages[i].id: row for row, i in enumerate(keep)}
    table = torch.from_numpy(np.ascontiguousarray(vectors[keep])).to(device)  # (needed, d): only these rows are read
    return PassageTable(rows, table)
