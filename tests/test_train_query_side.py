"""Query-side tuning (`train.tune: query`): only the query encoder learns, against the base model's
passage embeddings; the saved model encodes documents exactly as the base model does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from corpustune.models.routed import is_routed, route
from corpustune.retrieve.encode import EmbeddingCache, model_fingerprint
from corpustune.retrieve.search import DenseRetriever, DenseSettings
from corpustune.train.batching import make_batch
from corpustune.train.config import TrainConfig
from corpustune.train.gradcache import run_step
from corpustune.train.interpolate import interpolated_model
from corpustune.train.losses import CombinedLoss
from corpustune.train.trainer import Trainer
from tests.conftest import TINY_PASSAGES
from tests.train_fixtures import (
    QUERIES,
    one_thread,  # noqa: F401  (fixture used by pytestmark)
    tiny_examples,
    tiny_passage_map,
)

pytestmark = pytest.mark.usefixtures("one_thread")

DOCUMENTS = [p.full_text() for p in TINY_PASSAGES]
QUERY_TEXTS = [text for _, text, _ in QUERIES]


def query_config(model, **settings) -> TrainConfig:
    # fp32: the references below are fp32 (tests/test_train_bf16.py covers bf16)
    return TrainConfig(model=str(model), tune="query", epochs=3, queries_per_step=5, query_max_tokens=16,
                       passage_max_tokens=24, teacher_temperature=0.1, learning_rate=1e-3, precision="fp32",
                       **settings)


@pytest.fixture
def query_tuned(tiny_biencoder_path, tmp_path):
    """The folder a query-side training run saves."""
    Trainer(query_config(tiny_biencoder_path), tiny_examples(), [], tiny_passage_map(), tmp_path / "train",
            tmp_path / "model", show_progress=False).train()
    return tmp_path / "model"


def test_the_saved_model_keeps_the_base_document_embeddings_and_changes_the_queries(tiny_biencoder_path, query_tuned):
    model = SentenceTransformer(str(query_tuned))  # plain loading, no custom code
    base = SentenceTransformer(str(tiny_biencoder_path))
    assert is_routed(model)
    assert model.encode_document(DOCUMENTS).tobytes() == base.encode(DOCUMENTS).tobytes()
    assert model.encode(DOCUMENTS).tobytes() == base.encode(DOCUMENTS).tobytes()  # plain encode: the document route
    assert model.encode(QUERY_TEXTS, task="document").tobytes() == base.encode(QUERY_TEXTS).tobytes()
    moved = np.abs(model.encode_query(QUERY_TEXTS) - base.encode(QUERY_TEXTS)).max()
    assert moved > 1e-3
    assert np.array_equal(model.encode(QUERY_TEXTS, task="query"), model.encode_query(QUERY_TEXTS))
    card = (query_tuned / "README.md").read_text()
    assert "document side" in card and "unchanged" in card


def test_a_query_side_step_equals_a_reference_on_base_passage_embeddings(tiny_biencoder_path, tmp_path):
    """Loss and gradients of the step against one autograd graph over the student's query
    embeddings and `SentenceTransformer.encode` of the passages by the base model; no passage is
    encoded by the student (gradient caching on: 40-token chunks)."""
    config = query_config(tiny_biencoder_path, chunk_tokens=40, mask_fraction=0.3)
    trainer = Trainer(config, tiny_examples(), [], tiny_passage_map(), tmp_path / "train", show_progress=False)
    examples = tiny_examples()[:5]
    batch = make_batch(examples)
    encoded = []
    forward, tokenize = trainer.encoder.forward, trainer.encoder.tokenize
    trainer.encoder.tokenize = lambda texts, side: encoded.extend(texts) or tokenize(texts, side)
    loss_fn = CombinedLoss.from_config(config)
    result = run_step(trainer.encoder, loss_fn, batch, trainer.passage_texts, trainer.query_side,
                      trainer.passage_side, train=True, grad_cache=True,
                      fixed_passages=trainer.fixed_passages(batch.passage_ids))
    assert encoded and set(encoded) <= set(QUERY_TEXTS)
    grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}
    trainer.model.zero_grad(set_to_none=True)

    base = SentenceTransformer(str(tiny_biencoder_path))
    passages = base.encode([trainer.passage_texts[p] for p in batch.passage_ids], convert_to_tensor=True)  # (P, d)
    queries = forward(list(batch.query_texts), trainer.query_side)  # (Q, d), one graph
    parts = loss_fn(queries, passages, batch.list_index, batch.teacher_scores, batch.valid, batch.positive_index,
                    num_queries=batch.num_queries)
    parts.total.backward()
    assert result.loss == pytest.approx(parts.total.item(), abs=1e-5)
    reference = {name: p.grad for name, p in trainer.model.named_parameters() if p.grad is not None}
    assert len(reference) > 10 and set(grads) == set(reference)
    for name, gradient in reference.items():
        torch.testing.assert_close(grads[name], gradient, atol=1e-5, rtol=1e-4, msg=name)
    for name, weight in trainer.document_model.state_dict().items():  # the frozen side never moves
        assert torch.equal(weight, base.state_dict()[name]), name


def test_interpolating_a_query_tuned_model_mixes_only_the_query_encoder(tiny_biencoder_path, query_tuned):
    base = SentenceTransformer(str(tiny_biencoder_path))
    tuned = SentenceTransformer(str(query_tuned))
    for weight in (0.0, 0.5, 1.0):
        mixed = interpolated_model(base, tuned, weight)
        assert mixed.encode_document(DOCUMENTS).tobytes() == base.encode(DOCUMENTS).tobytes()
        if weight == 0.0:
            assert mixed.encode_query(QUERY_TEXTS).tobytes() == base.encode(QUERY_TEXTS).tobytes()
        if weight == 1.0:
            assert mixed.encode_query(QUERY_TEXTS).tobytes() == tuned.encode_query(QUERY_TEXTS).tobytes()
    half = interpolated_model(base, tuned, 0.5)
    expected = {n: 0.5 * b + 0.5 * t for (n, b), t in zip(route(base, "query").state_dict().items(),
                                                         route(tuned, "query").state_dict().values())}
    for name, value in route(half, "query").state_dict().items():
        if value.is_floating_point():
            assert torch.equal(value, expected[name]), name


def test_evaluating_a_query_tuned_model_reuses_the_base_corpus_embeddings(tiny_biencoder_path, query_tuned, tmp_path):
    base = SentenceTransformer(str(tiny_biencoder_path))
    tuned = SentenceTransformer(str(query_tuned))
    assert model_fingerprint(route(tuned, "document")) == model_fingerprint(base)
    assert model_fingerprint(route(tuned, "query")) != model_fingerprint(base)
    cache = EmbeddingCache(tmp_path / "cache")
    settings = DenseSettings(model=str(tiny_biencoder_path), precision="fp32")  # exact, on every CPU
    DenseRetriever(TINY_PASSAGES, settings, model=base, cache=cache)
    stored = sorted(cache.folder.iterdir())
    retriever = DenseRetriever(TINY_PASSAGES, settings, model=tuned, cache=cache)
    assert sorted(cache.folder.iterdir()) == stored  # no new corpus encoding
    expected = tuned.encode_query(QUERY_TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(retriever.encode_queries(QUERY_TEXTS), expected, atol=1e-6)  # the query route
