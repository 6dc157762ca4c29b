"""One training step with gradient caching (Gao et al. 2021, "Scaling Deep Contrastive Learning
Batch Size under Memory Limited Setup", arXiv 2101.06983).

1. embed every text of the step in length-bucketed chunks *without* an autograd graph;
2. compute the loss on those embeddings (made leaves) and backpropagate to them only;
3. re-encode chunk by chunk *with* a graph and backpropagate each chunk's cached embedding
   gradient into the parameters, so only one chunk's activations live at a time.

The gradients equal those of encoding the whole step with one graph, while InfoNCE negatives
span the whole step (and, through the gather, every rank). Dropout masks are replayed by
restoring the RNG state of each chunk before re-encoding it, and the re-encoding reuses the chunk's
tokenized features from step 1 (on a GPU the host's tokenizer, not the device, can set the pace of
a large step). When a step fits one chunk the plain path (keep the graph, one backward) is used:
same result, one forward fewer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from corpustune.chunking import length_chunks
from corpustune.parallel import Context
from corpustune.train.batching import StepBatch, shard
from corpustune.train.distributed import gather_rows, sum_over_ranks
from corpustune.train.losses import CombinedLoss


@dataclass(frozen=True)
class TextSide:
    """How one side (queries or passages) is encoded."""

    prompt: str
    max_tokens: int


@dataclass(frozen=True)
class StepResult:
    """Global values (summed over ranks) of one step's loss and its parts (None when weight 0)."""

    loss: float
    listwise: float | None
    infonce: float | None
    num_queries: int
    distinct_passages: int
    passage_slots: int


class StepEncoder:
    """Turns texts into embeddings with a sentence-transformers model, chunked by token budget."""

    def __init__(self, model, device: torch.device, chunk_tokens: int, autocast_dtype: torch.dtype | None = None):
        self.model = model
        self.device = device
        self.chunk_tokens = chunk_tokens
        self.autocast_dtype = autocast_dtype

    def lengths(self, texts: list[str], side: TextSide) -> np.ndarray:
        """Tokens per text after prompt and truncation; (n,) int64."""
        if not texts:
            return np.zeros(0, dtype=np.int64)
        ids = self.model.tokenizer(
            [side.prompt + t for t in texts], truncation=True, max_length=side.max_tokens
        )["input_ids"]
        return np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(texts))

    def chunks(self, texts: list[str], side: TextSide) -> list[np.ndarray]:
        return length_chunks(self.lengths(texts, side), self.chunk_tokens)

    def tokenize(self, texts: list[str], side: TextSide) -> dict:
        """The model's input features of `texts` (prompt, truncation, padding), tensors on the device."""
        features = self.model.preprocess(texts, prompt=side.prompt or None, max_length=side.max_tokens)
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}

    def forward(self, texts: list[str], side: TextSide) -> torch.Tensor:
        """(n, d) embeddings of `texts`, with a graph when grad mode is on."""
        return self.encode(self.tokenize(texts, side))

    def encode(self, features: dict) -> torch.Tensor:
        """(n, d) embeddings of tokenized `features`, with a graph when grad mode is on."""
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with autocast:
            # a copy: the modules write their outputs (token embeddings too) into the dict they get,
            # and `features` may be kept for the re-encoding
            embeddings = self.model(dict(features))["sentence_embedding"]
        # the loss runs in at least float32 (bf16 autocast outputs are upcast; a float64 model stays so)
        return embeddings.float() if embeddings.dtype in (torch.bfloat16, torch.float16) else embeddings

    def embed(
        self, texts: list[str], chunks: list[np.ndarray], side: TextSide, *, keep_features: bool = False
    ) -> tuple[torch.Tensor, list]:
        """Embed chunk by chunk in the current grad mode; returns (n, d) and, per chunk, its RNG state
        and (with `keep_features`, for `backward_chunks`) its tokenized features."""
        if not texts:
            dim = self.model.get_embedding_dimension()
            # a rank without texts still joins the gather's backward, so its (empty) rows need a graph
            dtype = next(self.model.parameters()).dtype
            return torch.zeros(0, dim, dtype=dtype, device=self.device, requires_grad=torch.is_grad_enabled()), []
        out: torch.Tensor | None = None
        states = []
        for chunk in chunks:
            rng = _rng_state(self.device)
            features = self.tokenize([texts[i] for i in chunk], side)
            states.append((rng, features if keep_features else None))
            vectors = self.encode(features)  # (chunk, d)
            if out is None:
                out = vectors.new_zeros(len(texts), vectors.shape[1])
            out = out.index_copy(0, torch.as_tensor(chunk, device=self.device), vectors)
        return out, states

    def backward_chunks(
        self, texts: list[str], chunks: list[np.ndarray], states: list, side: TextSide, gradient: torch.Tensor
    ) -> None:
        """Re-encode each chunk with a graph and push its cached embedding gradient into the weights."""
        for chunk, (rng, features) in zip(chunks, states):
            _set_rng_state(self.device, rng)
            if features is None:
                features = self.tokenize([texts[i] for i in chunk], side)
            vectors = self.encode(features)  # (chunk, d)
            vectors.backward(gradient[torch.as_tensor(chunk, device=gradient.device)])


def _rng_state(device: torch.device):
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(device: torch.device, state) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def run_step(
    encoder: StepEncoder,
    loss_fn: CombinedLoss,
    batch: StepBatch,
    passage_texts: dict[str, str],
    query_side: TextSide,
    passage_side: TextSide,
    context: Context | None = None,
    *,
    train: bool = True,
    grad_cache: bool | None = None,
    fixed_passages: torch.Tensor | None = None,
) -> StepResult:
    """Loss of `batch` (this rank's share of queries and distinct passages); with `train`, the
    parameter gradients of the global loss are accumulated into `.grad` (not yet summed over ranks).

    grad_cache: True/False forces the path; None caches only when a side needs several chunks.
    fixed_passages: (P, d) embeddings of `batch.passage_ids`, for query-side tuning: no passage is
    encoded and no gradient flows to the passage side (every rank holds all P rows).
    """
    context = context or Context()
    queries = shard(batch.num_queries, context.rank, context.world_size)
    query_texts = batch.query_texts[queries]
    query_chunks = encoder.chunks(query_texts, query_side)
    if fixed_passages is None:
        passages = shard(len(batch.passage_ids), context.rank, context.world_size)
        texts = [passage_texts[p] for p in batch.passage_ids[passages]]
        passage_chunks = encoder.chunks(texts, passage_side)
    else:
        texts, passage_chunks = [], []
    if grad_cache is None:
        grad_cache = len(query_chunks) > 1 or len(passage_chunks) > 1
    grad_cache = grad_cache and train
    device = encoder.device
    with torch.set_grad_enabled(train and not grad_cache):
        query_embeddings, query_states = encoder.embed(query_texts, query_chunks, query_side,
                                                       keep_features=grad_cache)  # (Q_local, d)
        if fixed_passages is None:
            passage_embeddings, passage_states = encoder.embed(texts, passage_chunks, passage_side,
                                                               keep_features=grad_cache)  # (P_local, d)
    if grad_cache:
        query_embeddings = query_embeddings.detach().requires_grad_()
        if fixed_passages is None:
            passage_embeddings = passage_embeddings.detach().requires_grad_()
    with torch.set_grad_enabled(train):
        if fixed_passages is None:
            all_passages = gather_rows(passage_embeddings, context)  # (P, d), every rank's share
        else:
            all_passages = fixed_passages.to(device=device, dtype=query_embeddings.dtype)  # (P, d)
        parts = loss_fn(
            query_embeddings,
            all_passages,
            batch.list_index[queries].to(device),
            batch.teacher_scores[queries].to(device),
            batch.valid[queries].to(device),
            batch.positive_index[queries].to(device),
            num_queries=batch.num_queries,
        )
        if train:
            parts.total.backward()
    if grad_cache:
        encoder.backward_chunks(query_texts, query_chunks, query_states, query_side, query_embeddings.grad)
        if fixed_passages is None:
            encoder.backward_chunks(texts, passage_chunks, passage_states, passage_side, passage_embeddings.grad)
    values = [float(t.detach()) if t is not None else 0.0 for t in (parts.total, parts.listwise, parts.infonce)]
    total, listwise, infonce = sum_over_ranks(values, context)
    return StepResult(
        loss=total,
        listwise=listwise if parts.listwise is not None else None,
        infonce=infonce if parts.infonce is not None else None,
        num_queries=batch.num_queries,
        distinct_passages=len(batch.passage_ids),
        passage_slots=batch.passage_slots,
    )
