"""Bi-encoder teachers: cosine similarity of any sentence-transformers model (e.g. packaged mpnet)
on torch (`BiEncoderTeacher`), or of an ONNX folder on onnxruntime (`OnnxBiEncoderTeacher`, e.g.
the packaged int8 `bge-small`).

Each distinct query text and passage text is embedded once per teacher, whatever the chunks the
scorer cuts: `prepare` (called by the scorer with every pair of the request before the first
chunk) plans the encoding batches of all texts, `score` encodes the planned batches its chunk
needs and keeps the vectors (`TextEmbeddings`). Where the whole corpus was already embedded by the
same torch model and settings (an `EmbeddingCache` entry, e.g. written by mining with this model),
the passages' vectors are read from it and no passage is encoded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpustune.hardware import Precision, default_tokens_per_batch, inference_dtype
from corpustune.retrieve.encode import EmbeddingCache, load_encoder
from corpustune.teach.base import Pair
from corpustune.teach.embeddings import SentenceTransformerTexts, TextEmbeddings, TextEncoder
from corpustune.teach.onnx_model import OnnxModel, OnnxSource, OnnxTexts, folder_pooling


class EmbeddingTeacher:
    """Cosine of query and passage vectors of one `TextEncoder`, each text embedded once."""

    def __init__(self, encoder: TextEncoder, *, query_prompt: str, passage_prompt: str, tokens_per_batch: int):
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.tokens_per_batch = tokens_per_batch
        self.queries = TextEmbeddings(encoder, prompt=query_prompt, tokens_per_batch=tokens_per_batch)
        self.passages = TextEmbeddings(encoder, prompt=passage_prompt, tokens_per_batch=tokens_per_batch)

    def _reuse_corpus(self) -> None:
        """Preset passage vectors computed elsewhere, if any (see `BiEncoderTeacher`)."""

    def prepare(self, pairs: Sequence[Pair]) -> None:
        """Plan the encoding of every query and passage text of `pairs` (encodes nothing).

        Every rank gets the same `pairs` (cached ones included), so each text lands in the same
        batch on every rank and in a resumed run, and gets the same vector wherever it is encoded.
        """
        self._reuse_corpus()
        self.queries.plan([p[0] for p in pairs])
        self.passages.plan([p[1] for p in pairs])

    def score(self, pairs: Sequence[Pair]) -> np.ndarray:
        """Cosine similarity of query and passage embeddings, float32 (len(pairs),).

        Texts already embedded by this teacher are not encoded again; texts never prepared are
        planned among the texts of this call.
        """
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        self._reuse_corpus()
        queries = self.queries.embed([p[0] for p in pairs])  # (n, d)
        passages = self.passages.embed([p[1] for p in pairs])  # (n, d)
        return np.einsum("nd,nd->n", queries, passages).astype(np.float32)


class BiEncoderTeacher(EmbeddingTeacher):
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
        corpus: Sequence[str] | None = None,
        embedding_cache: EmbeddingCache | None = None,
    ):
        """`corpus`: every passage text in corpus order, and `embedding_cache`: where whole-corpus
        embeddings are kept; with both, passages are read from a cache entry of this model (same
        weights, dtype, length limit and passage prompt) when there is one."""
        self.encoder = load_encoder(
            model, device=device, max_seq_length=max_seq_length, trust_remote_code=trust_remote_code
        )
        self.dtype = inference_dtype(precision, self.encoder.device)
        self.encoder.to(self.dtype)
        super().__init__(SentenceTransformerTexts(self.encoder), query_prompt=query_prompt,
                         passage_prompt=passage_prompt,
                         tokens_per_batch=tokens_per_batch or default_tokens_per_batch(self.encoder.device))
        # The dtype is part of the id: the score cache must not mix bf16 and fp32 scores.
        self.id = (
            f"biencoder:{model}:{query_prompt!r}:{passage_prompt!r}:max{self.encoder.max_seq_length}"
            f":{str(self.dtype).removeprefix('torch.')}"
        )
        self.corpus = corpus
        self.embedding_cache = embedding_cache
        self.corpus_checked = False
        self.corpus_reused = False

    def _reuse_corpus(self) -> None:
        """Preset every corpus passage from the embedding cache, if it holds this request (looked
        up once: the model fingerprint hashes all weights)."""
        if self.corpus is None or self.embedding_cache is None or self.corpus_checked:
            return
        self.corpus_checked = True
        # normalize=None names the request as mining makes it (the model's own similarity)
        path = self.embedding_cache.path(self.encoder, self.corpus, prompt=self.passage_prompt)
        vectors = self.embedding_cache.read(path, len(self.corpus), self.passages.dimension)
        if vectors is not None:
            self.passages.preset(self.corpus, vectors)
            self.corpus_reused = True


class OnnxBiEncoderTeacher(EmbeddingTeacher):
    """A bi-encoder ONNX folder on onnxruntime's CPU threads (mining never embeds the corpus with
    it, so there is no embedding cache to read)."""

    def __init__(
        self,
        model: str,
        source: OnnxSource,
        *,
        query_prompt: str | None = None,
        passage_prompt: str = "",
        pooling: str | None = None,
        max_seq_length: int = 512,
        tokens_per_batch: int | None = None,
        threads: int | None = None,
    ):
        """`model`: the name the user gave (alias or path); `source`: where it is. `query_prompt`
        None takes the alias's (bge-small: its retrieval instruction), else none; `pooling` None
        takes the alias's, else the folder's `Pooling` module config."""
        onnx = OnnxModel(source, max_length=max_seq_length, threads=threads)
        pooling = pooling or source.pooling or folder_pooling(source.folder)
        query_prompt = source.query_prompt if query_prompt is None else query_prompt
        texts = OnnxTexts(onnx, pooling)
        super().__init__(texts, query_prompt=query_prompt, passage_prompt=passage_prompt,
                         tokens_per_batch=onnx.batch_budget(tokens_per_batch))
        # Precision and digests are part of the id: the score cache must not mix models or quantizations.
        self.id = (f"biencoder:{model}:{query_prompt!r}:{passage_prompt!r}:max{onnx.max_length}"
                   f":{onnx.label(self.tokens_per_batch)}:{texts.pooling or texts.output}")
