"""Retrievers over one corpus behind one small interface: `run(query_ids, query_texts, k) -> Run`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from corpustune.data.records import Passage
from corpustune.hardware import Precision, use_bf16
from corpustune.models.routed import route
from corpustune.retrieve import Run
from corpustune.retrieve.ann import HnswIndex, HnswSettings, uses_hnsw
from corpustune.retrieve.bm25 import BM25Index
from corpustune.retrieve.dense import exact_top_k, faiss_top_k, to_run
from corpustune.retrieve.encode import EmbeddingCache, encode, load_encoder
from corpustune.retrieve.fusion import reciprocal_rank_fusion, truncate
from corpustune.retrieve.texts import PassageTexts


class DenseSettings(BaseModel):
    """How a sentence-transformers model embeds queries and passages."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    model: str = "minilm"
    query_prompt: str = ""
    passage_prompt: str = ""
    max_seq_length: int | None = None
    tokens_per_batch: int = 8192
    search: Literal["exact", "faiss", "hnsw", "auto"] = "exact"
    """exact: inner product with every passage; faiss: the same through a faiss flat index; hnsw: an
    approximate HNSW graph (extra `faiss`); auto: exact up to `hnsw.exact_up_to` passages
    (1,000,000 by default), HNSW above (mining's default)."""
    hnsw: HnswSettings = HnswSettings()
    trust_remote_code: bool = False
    precision: Precision = "auto"
    """auto: bf16 autocast where the hardware computes bf16 natively (CPUs with avx512_bf16 or
    amx_bf16, GPUs with bf16), fp32 elsewhere; fp32 or bf16 force one. Embeddings are float32
    either way, and the embedding cache keeps the two apart."""


class RetrieverSettings(BaseModel):
    """Which first-stage retriever to use: dense, BM25, or both fused by reciprocal rank fusion."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    kind: Literal["dense", "bm25", "hybrid"] = "dense"
    dense: DenseSettings = DenseSettings()
    bm25_language: str | None = "english"
    rrf_k: float = 60.0


class Retriever(Protocol):
    name: str

    def run(self, query_ids: Sequence[str], query_texts: Sequence[str], k: int) -> Run: ...


class DenseRetriever:
    """Exact inner-product search over passage embeddings (cached on disk per model + texts).

    A model loaded here runs on `device` (None: sentence-transformers' pick), and so does the
    search. With a cache, the passage matrix is the cache entry memory-mapped, and under torchrun
    a cache of the process group (`EmbeddingCache.sharded`) shares the encoding out among the ranks.
    """

    def __init__(
        self,
        passages: Sequence[Passage],
        settings: DenseSettings,
        *,
        model=None,
        cache: EmbeddingCache | None = None,
        show_progress: bool = False,
        device: str | None = None,
    ):
        self.name = f"dense:{settings.model}"
        self.settings = settings
        self.model = model or load_encoder(
            settings.model, device=device, max_seq_length=settings.max_seq_length,
            trust_remote_code=settings.trust_remote_code,
        )
        # a query-tuned model (train.tune: query) encodes documents with the untouched base model
        self.query_model, self.document_model = route(self.model, "query"), route(self.model, "document")
        self.passage_ids = [p.id for p in passages]
        texts = PassageTexts(passages)  # made block by block as they are encoded, never all at once
        self.bf16 = use_bf16(settings.precision, self.document_model.device)
        options = dict(
            prompt=settings.passage_prompt,
            tokens_per_batch=settings.tokens_per_batch,
            show_progress=show_progress,
            description="encoding passages",
            bf16=self.bf16,
        )
        self.passage_embeddings = (cache.encode(self.document_model, texts, **options) if cache
                                   else encode(self.document_model, texts, **options))
        self._show_progress = show_progress
        self._hnsw: HnswIndex | None = None  # built at the first search that uses it

    def encode_queries(self, query_texts: Sequence[str]):
        return encode(
            self.query_model,
            query_texts,
            prompt=self.settings.query_prompt,
            tokens_per_batch=self.settings.tokens_per_batch,
            show_progress=self._show_progress,
            description="encoding queries",
            bf16=self.bf16,
        )

    def run(self, query_ids: Sequence[str], query_texts: Sequence[str], k: int) -> Run:
        queries = self.encode_queries(query_texts)
        if uses_hnsw(self.settings.search, len(self.passage_ids), self.settings.hnsw):
            self._hnsw = self._hnsw or HnswIndex(self.passage_embeddings, self.settings.hnsw)
            scores, indices = self._hnsw.search(queries, k)
        elif self.settings.search == "faiss":
            scores, indices = faiss_top_k(queries, self.passage_embeddings, k)
        else:  # exact, on the model's device: a GPU's when the model runs on one
            scores, indices = exact_top_k(queries, self.passage_embeddings, k, device=self.query_model.device)
        return to_run(query_ids, self.passage_ids, scores, indices)


class BM25Retriever:
    """BM25 over `passages`: the given `index` of them (e.g. the run's shared one), else one built here."""

    def __init__(self, passages: Sequence[Passage], language: str | None = "english", *,
                 index: BM25Index | None = None):
        self.name = "bm25"
        self.index = index if index is not None else BM25Index(passages, language=language)

    def run(self, query_ids: Sequence[str], query_texts: Sequence[str], k: int) -> Run:
        return self.index.run(query_ids, query_texts, k)


class FusedRetriever:
    """Reciprocal rank fusion of several retrievers, each asked for `k` passages."""

    def __init__(self, retrievers: Sequence[Retriever], rrf_k: float = 60.0):
        self.name = "rrf(" + ",".join(r.name for r in retrievers) + ")"
        self.retrievers = list(retrievers)
        self.rrf_k = rrf_k

    def run(self, query_ids: Sequence[str], query_texts: Sequence[str], k: int) -> Run:
        runs = [r.run(query_ids, query_texts, k) for r in self.retrievers]
        return truncate(reciprocal_rank_fusion(runs, k=self.rrf_k), k)


def build_retriever(
    passages: Sequence[Passage],
    settings: RetrieverSettings,
    *,
    model=None,
    cache: EmbeddingCache | None = None,
    show_progress: bool = False,
) -> Retriever:
    """The retriever that `settings` describe; `model` reuses an already loaded encoder."""
    if settings.kind == "bm25":
        return BM25Retriever(passages, settings.bm25_language)
    dense = DenseRetriever(passages, settings.dense, model=model, cache=cache, show_progress=show_progress)
    if settings.kind == "dense":
        return dense
    return FusedRetriever([BM25Retriever(passages, settings.bm25_language), dense], settings.rrf_k)
