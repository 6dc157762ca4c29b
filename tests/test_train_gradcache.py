"""Gradient caching (chunked, no-graph embed + re-encode) equals plain training on a tiny model."""

from __future__ import annotations

import pytest
import torch

from corpustune.train.batching import make_batch
from corpustune.train.config import TrainConfig
from corpustune.train.gradcache import StepEncoder, TextSide, run_step
from corpustune.train.losses import CombinedLoss
from corpustune.train.trainer import load_student
from tests.train_fixtures import (
    one_thread,  # noqa: F401  (fixture used by pytestmark)
    tiny_examples,
    tiny_passage_map,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _gradients(model_path, grad_cache: bool, chunk_tokens: int, dropout: float = 0.0):
    config = TrainConfig(model=str(model_path), mask_fraction=0.3, dropout=dropout)
    model = load_student(config, torch.device("cpu"))
    model.train()
    torch.manual_seed(0)
    encoder = StepEncoder(model, torch.device("cpu"), chunk_tokens)
    texts = {p.id: p.full_text() for p in tiny_passage_map().values()}
    result = run_step(
        encoder, CombinedLoss.from_config(config), make_batch(tiny_examples()), texts,
        TextSide("query ", 16), TextSide("passage ", 24), train=True, grad_cache=grad_cache,
    )
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return result, grads


def test_cached_step_equals_plain_step(tiny_biencoder_path):
    plain, plain_grads = _gradients(tiny_biencoder_path, grad_cache=False, chunk_tokens=10**6)
    cached, cached_grads = _gradients(tiny_biencoder_path, grad_cache=True, chunk_tokens=24)
    assert plain.distinct_passages == 6 and plain.passage_slots == 40  # 10 lists of 4 over 6 passages
    assert abs(plain.loss - cached.loss) < 1e-5
    assert abs(plain.listwise - cached.listwise) < 1e-5 and abs(plain.infonce - cached.infonce) < 1e-5
    assert plain_grads.keys() == cached_grads.keys() and len(plain_grads) > 10
    largest = max(g.abs().max().item() for g in plain_grads.values())
    assert largest > 1e-3  # the comparison is not between zeros
    for name, grad in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_cached_step_replays_dropout_masks(tiny_biencoder_path):
    """With dropout on, re-encoding restores each chunk's RNG state: the same masks as the
    no-graph pass, so the cached gradients equal a plain step that draws masks in the same order."""
    plain, plain_grads = _gradients(tiny_biencoder_path, grad_cache=False, chunk_tokens=24, dropout=0.3)
    cached, cached_grads = _gradients(tiny_biencoder_path, grad_cache=True, chunk_tokens=24, dropout=0.3)
    no_dropout, _ = _gradients(tiny_biencoder_path, grad_cache=False, chunk_tokens=24)
    assert abs(plain.loss - no_dropout.loss) > 1e-4  # dropout really changes the step
    assert abs(plain.loss - cached.loss) < 1e-5
    for name, grad in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_cached_step_tokenizes_each_chunk_once(tiny_biencoder_path):
    """The re-encoding pass reuses the features of the no-graph pass: one tokenization per chunk,
    and the reused features hold only the tokenizer's outputs (no token embeddings kept alive)."""
    config = TrainConfig(model=str(tiny_biencoder_path), mask_fraction=0.3)
    model = load_student(config, torch.device("cpu"))
    encoder = StepEncoder(model, torch.device("cpu"), 24)
    texts = {p.id: p.full_text() for p in tiny_passage_map().values()}
    batch = make_batch(tiny_examples())
    queries, passages = TextSide("query ", 16), TextSide("passage ", 24)
    chunks = len(encoder.chunks(list(batch.query_texts), queries)) + len(
        encoder.chunks([texts[p] for p in batch.passage_ids], passages))
    tokenized, encoded = [], []
    tokenize, encode = encoder.tokenize, encoder.encode
    encoder.tokenize = lambda chunk, side: tokenized.append(chunk) or tokenize(chunk, side)
    encoder.encode = lambda features: encoded.append(set(features)) or encode(features)
    run_step(encoder, CombinedLoss.from_config(config), batch, texts, queries, passages, train=True, grad_cache=True)
    assert chunks > 2 and len(tokenized) == chunks
    assert len(encoded) == 2 * chunks and all("token_embeddings" not in keys for keys in encoded)
