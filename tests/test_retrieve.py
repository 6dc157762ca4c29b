"""Encoding, exact search, BM25 and fusion against slow references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from corpustune.retrieve import encode as encode_module
from corpustune.retrieve.bm25 import BM25Index
from corpustune.retrieve.dense import exact_top_k
from corpustune.retrieve.encode import EmbeddingCache, encode, model_fingerprint
from corpustune.retrieve.fusion import reciprocal_rank_fusion, truncate
from corpustune.retrieve.search import BM25Retriever, DenseRetriever, DenseSettings, FusedRetriever


@pytest.fixture(scope="module")
def tiny_model(tiny_biencoder_path):
    return SentenceTransformer(str(tiny_biencoder_path), device="cpu")


def test_encode_matches_sentence_transformers_in_input_order(tiny_model, tiny_passages):
    texts = [p.full_text() for p in tiny_passages] + ["aspirin", tiny_passages[0].full_text()]
    reference = tiny_model.encode(texts, batch_size=3, convert_to_numpy=True)
    ours = encode(tiny_model, texts, tokens_per_batch=40)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_array_equal(ours[0], ours[-1])


def test_encode_applies_the_prompt_like_sentence_transformers(tiny_model):
    texts = ["heart attack risk", "coffee"]
    reference = tiny_model.encode(texts, prompt="query: ", convert_to_numpy=True)
    np.testing.assert_allclose(encode(tiny_model, texts, prompt="query: "), reference, atol=1e-5)


def test_exact_top_k_matches_a_full_sort():
    generator = np.random.default_rng(0)
    queries, passages = generator.normal(size=(7, 5)), generator.normal(size=(50, 5))
    scores, indices = exact_top_k(queries, passages, k=4, queries_per_chunk=3)
    full = queries @ passages.T
    np.testing.assert_array_equal(indices, np.argsort(-full, axis=1)[:, :4])
    np.testing.assert_allclose(scores, np.sort(full, axis=1)[:, ::-1][:, :4], rtol=1e-5)


def test_reciprocal_rank_fusion_by_hand():
    first = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    second = {"q": {"c": 0.9, "a": 0.5}}
    fused = reciprocal_rank_fusion([first, second], k=60)
    assert fused["q"]["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["q"]["b"] == pytest.approx(1 / 62)
    assert fused["q"]["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert list(truncate(fused, 2)["q"]) == ["a", "c"]


def test_bm25_ranks_the_passage_sharing_the_query_terms(tiny_passages):
    index = BM25Index(tiny_passages)
    run = index.run(["q1", "q2"], ["vitamins in winter", "antibiotic against viruses"], k=3)
    assert next(iter(sorted(run["q1"], key=run["q1"].get, reverse=True))) == "d3"
    assert max(run["q2"], key=run["q2"].get) == "d6"


def test_embedding_cache_skips_the_second_encoding(tiny_model, tiny_passages, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path)
    texts = [p.full_text() for p in tiny_passages]
    first = cache.encode(tiny_model, texts)
    monkeypatch.setattr(encode_module, "encode", lambda *a, **k: pytest.fail("re-encoded a cached corpus"))
    np.testing.assert_array_equal(cache.encode(tiny_model, texts), first)
    assert len(list(tmp_path.glob("*.npy"))) == 1


def test_fingerprint_changes_with_the_weights(tiny_biencoder_path):
    model = SentenceTransformer(str(tiny_biencoder_path), device="cpu")
    before = model_fingerprint(model)
    assert model_fingerprint(SentenceTransformer(str(tiny_biencoder_path), device="cpu")) == before
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert model_fingerprint(model) != before


def test_dense_and_fused_retrievers_return_k_passages(tiny_model, tiny_passages):
    dense = DenseRetriever(tiny_passages, DenseSettings(), model=tiny_model)
    run = dense.run(["q"], ["coffee liver"], k=4)
    assert len(run["q"]) == 4
    fused = FusedRetriever([BM25Retriever(tiny_passages), dense]).run(["q"], ["coffee liver"], k=4)
    assert len(fused["q"]) == 4 and max(fused["q"], key=fused["q"].get) == "d5"


def test_bf16_encoding_is_autocast_close_to_fp32_and_cached_apart(tiny_model, tiny_passages, tmp_path):
    texts = [p.full_text() for p in tiny_passages]
    fp32 = encode(tiny_model, texts)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # sentence-transformers' own encode, same autocast
        reference = tiny_model.encode(texts, convert_to_tensor=True).float().numpy()
    ours = encode(tiny_model, texts, bf16=True)
    # bf16 keeps 8 significant bits (a relative rounding of at most 2**-9 per product input); through
    # two layers, pooling and the norm, unit vectors of 32 dimensions move by a few 2**-8 at most
    np.testing.assert_allclose(ours, reference, atol=4 * 2**-8)
    np.testing.assert_allclose(ours, fp32, atol=4 * 2**-8)
    assert np.abs(ours - fp32).max() > 1e-6  # the products did run in bf16
    cache = EmbeddingCache(tmp_path)
    assert cache.path(tiny_model, texts, bf16=True) != cache.path(tiny_model, texts)
    np.testing.assert_array_equal(cache.encode(tiny_model, texts, bf16=True), ours)
    np.testing.assert_array_equal(cache.encode(tiny_model, texts), fp32)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    forced = DenseRetriever(tiny_passages, DenseSettings(precision="bf16"), model=tiny_model)
    np.testing.assert_array_equal(forced.passage_embeddings, ours)
    exact = DenseRetriever(tiny_passages, DenseSettings(precision="fp32"), model=tiny_model)
    np.testing.assert_array_equal(exact.passage_embeddings, fp32)
