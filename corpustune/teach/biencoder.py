"""Bi-encoder teacher: cosine similarity of any sentence-transformers model (e.g. packaged mpnet)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpustune.hardware import Precision, default_tokens_per_batch, inference_dtype
from corpustune.retrieve.encode import encode, load_encoder
from corpustune.teach.base import Pair


class BiEncoderTeacher:
    def __init__(
        self,
        model: str,
        *,
        query_prompt: str = "",
        passage_prompt: str = "",
        max_seq_length: int | None = None,
        tokens_per_batch: int | None = None,
        precision: Precision = "auto",
        device: str | None = None,
        trust_remote_code: bool = False,
    ):
        self.encoder = load_encoder(
            model, device=device, max_seq_length=max_seq_length, trust_remote_code=trust_remote_code
        )
        self.dtype = inference_dtype(precision, self.encoder.device)
        self.encoder.to(self.dtype)
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.tokens_per_batch = tokens_per_batch or default_tokens_per_batch(self.encoder.device)
        # The dtype is part of the id: the score cache must not mix bf16 and fp32 scores.
        self.id = (
            f"biencoder:{model}:{query_prompt!r}:{passage_prompt!r}:max{self.encoder.max_seq_length}"
            f":{str(self.dtype).removeprefix('torch.')}"
        )

    def score(self, pairs: Sequence[Pair]) -> np.ndarray:
        """Cosine similarity of query and passage embeddings, float32 (len(pairs),).

        Each distinct query and passage text is embedded once (`encode` de-duplicates).
        """
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        options = dict(tokens_per_batch=self.tokens_per_batch, normalize=True)
        queries = encode(self.encoder, [p[0] for p in pairs], prompt=self.query_prompt, **options)  # (n, d)
        passages = encode(self.encoder, [p[1] for p in pairs], prompt=self.passage_prompt, **options)  # (n, d)
        return np.einsum("nd,nd->n", queries, passages).astype(np.float32)
