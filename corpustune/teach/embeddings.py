"""Embeddings of a growing set of texts, each text encoded once, in batches fixed when planned.

A bi-encoder teacher sees the same passage in many chunks (each passage is the source of several
queries whose lists share candidates). `TextEmbeddings` keeps every vector it computed, keyed by
text. `plan(texts)` sorts the texts it has not seen by token length and cuts them into batches by
the token budget (`chunking.length_chunks`), before anything is encoded; `embed(texts)` then
encodes the planned batches that hold a text without a vector, whole. A text's vector therefore
depends only on the texts planned with it, not on the order of the lookups: processes that plan
the same texts and look up different ones (the ranks of a sharded run, or a resumed run that
needs fewer) compute identical vectors for the texts they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from corpustune.chunking import length_chunks
from corpustune.retrieve.encode import encode_batch, token_lengths


class TextEncoder(Protocol):
    """What `TextEmbeddings` needs of a model: sentence-transformers on torch
    (`SentenceTransformerTexts`) or an ONNX folder (`onnx_model.OnnxTexts`)."""

    dimension: int

    def token_lengths(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """Tokens of each (prompt + text) after truncation, int64 (n,)."""
        ...

    def encode_batch(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """Unit vectors of (prompt + text) for `texts` in one forward pass, float32 (n, dimension)."""
        ...


class SentenceTransformerTexts:
    """A sentence-transformers model as a `TextEncoder`."""

    def __init__(self, model):
        self.model = model
        self.dimension = model.get_embedding_dimension()

    def token_lengths(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        return token_lengths(self.model, texts, prompt)

    def encode_batch(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        return encode_batch(self.model, texts, prompt=prompt)


class TextEmbeddings:
    """Unit-norm float32 vectors of texts under one model and prompt, computed on demand."""

    def __init__(self, encoder: TextEncoder, *, prompt: str = "", tokens_per_batch: int = 2048):
        self.encoder = encoder
        self.prompt = prompt
        self.tokens_per_batch = tokens_per_batch
        self.dimension = encoder.dimension
        self.texts: list[str] = []  # row -> text
        self.rows: dict[str, int] = {}  # text -> row of `vectors`
        self.vectors = np.zeros((0, self.dimension), dtype=np.float32)  # (rows, d)
        self.batch_of: list[int] = []  # row -> index into `batches`; -1 for a row given by `preset`
        self.batches: list[list[int]] = []  # rows encoded together
        self.encoded: list[bool] = []  # batch -> done
        self.texts_encoded = 0  # texts passed to the model so far

    def _new_rows(self, texts: Sequence[str], batch: int) -> list[int]:
        """Rows for the distinct `texts` not yet known, in first-seen order."""
        new = [text for text in dict.fromkeys(texts) if text not in self.rows]
        if not new:  # the usual case once planned: no copy of the vectors
            return []
        rows = list(range(len(self.texts), len(self.texts) + len(new)))
        self.rows.update(zip(new, rows))
        self.texts += new
        self.batch_of += [batch] * len(new)
        self.vectors = np.concatenate([self.vectors, np.zeros((len(new), self.dimension), np.float32)])
        return rows

    def preset(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Take `vectors` (len(texts), d) as the embeddings of those `texts` not yet known,
        normalized to unit length here."""
        first = {text: i for i, text in reversed(list(enumerate(texts)))}
        rows = self._new_rows(texts, -1)
        chosen = np.asarray(vectors, dtype=np.float32)[[first[self.texts[r]] for r in rows]]  # (new, d)
        self.vectors[rows] = chosen / np.linalg.norm(chosen, axis=1, keepdims=True)

    def plan(self, texts: Sequence[str]) -> None:
        """Cut the texts not yet known into batches (longest first, by the token budget);
        encodes nothing."""
        rows = np.asarray(self._new_rows(texts, 0), dtype=np.int64)
        if not len(rows):
            return
        lengths = self.encoder.token_lengths([self.texts[r] for r in rows], self.prompt)  # (new,)
        for batch in length_chunks(lengths, self.tokens_per_batch):
            for row in rows[batch].tolist():
                self.batch_of[row] = len(self.batches)
            self.batches.append(rows[batch].tolist())
            self.encoded.append(False)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`, float32 (len(texts), d), in input order; texts never planned
        are planned first, among themselves."""
        self.plan(texts)
        rows = [self.rows[t] for t in texts]
        for index in sorted({self.batch_of[r] for r in rows} - {-1}):
            if not self.encoded[index]:
                batch = self.batches[index]
                self.vectors[batch] = self.encoder.encode_batch([self.texts[r] for r in batch], self.prompt)
                self.encoded[index] = True
                self.texts_encoded += len(batch)
        return self.vectors[rows]
