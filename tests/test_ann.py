"""HNSW search for mining against exact search: recall on a clustered set, and when `auto` picks it."""

from __future__ import annotations

import numpy as np
import pytest

from corpustune.mine.config import MineConfig
from corpustune.retrieve.ann import HnswIndex, HnswSettings, uses_hnsw
from corpustune.retrieve.dense import exact_top_k
from corpustune.retrieve.search import DenseRetriever, DenseSettings

pytest.importorskip("faiss")


def clustered(n: int, d: int, clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around `clusters` random centres, float32 (n, d): neighbours are close, as in real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    vectors = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, d))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of each query's exact top-k that the approximate top-k holds."""
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def test_hnsw_finds_most_of_the_exact_top_k_with_exact_scores():
    vectors = clustered(4200, 32, 40, seed=0)  # queries from the passages' clusters
    passages, queries = vectors[:4000], vectors[4000:]
    settings = HnswSettings(m=16, ef_construction=64, ef_search=64, build_threads=1, rows_per_add=1000)
    scores, indices = HnswIndex(passages, settings).search(queries, 10)
    exact_scores, exact_indices = exact_top_k(queries, passages, 10)
    assert scores.shape == indices.shape == (200, 10) and indices.dtype == np.int64
    assert recall(indices, exact_indices) >= 0.95
    # the scores are the inner products of the passages found, best first
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, passages[indices]), rtol=0, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    np.testing.assert_allclose(scores[:, 0], exact_scores[:, 0], rtol=0, atol=1e-5)  # the best one is found


def test_a_graph_built_on_one_thread_is_the_same_every_time():
    vectors = clustered(1550, 16, 10, seed=2)
    passages, queries = vectors[:1500], vectors[1500:]
    settings = HnswSettings(m=8, ef_construction=32, ef_search=16, build_threads=1)
    first = HnswIndex(passages, settings).search(queries, 20)
    second = HnswIndex(passages, settings).search(queries, 20)
    np.testing.assert_array_equal(first[1], second[1])


def test_a_query_the_graph_cannot_fill_is_searched_exactly():
    # 40 copies of each of 5 vectors: the graph links copies among themselves and reaches only
    # part of the corpus, where faiss pads the top-k with row -1
    passages = np.repeat(clustered(5, 8, 5, seed=5), 40, axis=0)
    scores, indices = HnswIndex(passages, HnswSettings(m=4, ef_construction=8, build_threads=1)).search(passages[:3], 200)
    assert (indices >= 0).all()
    exact_scores, _ = exact_top_k(passages[:3], passages, 200)
    np.testing.assert_allclose(scores, exact_scores, rtol=0, atol=1e-5)


def test_k_beyond_the_corpus_is_cut_to_the_corpus():
    passages = clustered(30, 8, 3, seed=4)
    scores, indices = HnswIndex(passages, HnswSettings(m=4, build_threads=1)).search(passages[:5], 100)
    assert indices.shape == (5, 30) and (indices >= 0).all()
    assert sorted(indices[0]) == list(range(30))


def test_auto_searches_exactly_up_to_the_threshold_and_hnsw_above():
    settings = HnswSettings(exact_up_to=1000)
    assert not uses_hnsw("auto", 1000, settings) and uses_hnsw("auto", 1001, settings)
    assert uses_hnsw("hnsw", 10, settings)
    assert not any(uses_hnsw(search, 10**9, settings) for search in ("exact", "faiss"))
    assert MineConfig().dense[0].search == "auto"
    given = MineConfig(dense=[{"model": "a"}, {"model": "b", "search": "exact"}, DenseSettings(model="c")])
    assert [d.search for d in given.dense] == ["auto", "exact", "auto"]
    assert MineConfig(**given.model_dump()) == given  # a saved config reads back the same
    assert DenseSettings().search == "exact"  # evaluation stays exact whatever the corpus size


def test_a_dense_retriever_above_the_threshold_searches_the_graph(tiny_biencoder_path, tiny_passages):
    queries = ["aspirin heart", "coffee liver", "sleep memory"]
    ids = [str(i) for i in range(len(queries))]
    exact = DenseRetriever(tiny_passages, DenseSettings(model=str(tiny_biencoder_path)))
    settings = DenseSettings(model=str(tiny_biencoder_path), search="auto",
                             hnsw=HnswSettings(exact_up_to=len(tiny_passages) - 1, build_threads=1))
    approximate = DenseRetriever(tiny_passages, settings, model=exact.model)
    found = approximate.run(ids, queries, k=4)
    assert approximate._hnsw is not None  # the graph was built and searched
    for query_id, run in exact.run(ids, queries, k=4).items():  # six passages: the graph finds them all
        assert list(found[query_id]) == list(run)
        assert list(found[query_id].values()) == pytest.approx(list(run.values()), abs=1e-5)
