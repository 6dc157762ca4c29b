"""Corpus-wide encoding and search in bounded memory: tokenizing a bounded number of texts per
call, exact deduplication by digest, encoding into a memory-mapped cache entry with a peak of
about one block, and exact search blocked over passages (ties ranked by passage row). References
are independent: the tokenizer called once on everything, a dict of first occurrences,
sentence-transformers' own `encode`, NumPy's stable full sort."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense

from corpustune.data.records import Passage
from corpustune.retrieve import texts as texts_module
from corpustune.retrieve.dense import exact_top_k
from corpustune.retrieve.encode import EmbeddingCache, encode, token_lengths
from corpustune.retrieve.texts import PassageTexts, first_occurrences
from tests.conftest import TINY_PASSAGES
from tests.train_fixtures import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_model(tiny_biencoder_path):
    return SentenceTransformer(str(tiny_biencoder_path), device="cpu")


def _corpus(count: int, seed: int = 0) -> list[Passage]:
    """`count` passages of 5-40 words drawn from the tiny vocabulary (some texts repeat)."""
    words = " ".join(p.text for p in TINY_PASSAGES).split()
    generator = np.random.default_rng(seed)
    return [Passage(f"p{i}", " ".join(generator.choice(words, size=int(generator.integers(5, 40)))))
            for i in range(count)]


@pytest.mark.parametrize(("queries_per_chunk", "passages_per_block", "k"),
                         [(3, 7, 5), (64, 1000, 10), (2, 5, 12), (5, 64, 300), (1, 1, 4)])
def test_exact_top_k_over_passage_blocks_equals_a_stable_full_sort_ties_included(tmp_path, queries_per_chunk,
                                                                                 passages_per_block, k):
    generator = np.random.default_rng(0)
    # small integers: every score is exact in float32 and most scores are tied with others
    queries = generator.integers(-2, 3, size=(11, 4)).astype(np.float32)
    np.save(tmp_path / "passages.npy", generator.integers(-2, 3, size=(240, 4)).astype(np.float32))
    passages = np.load(tmp_path / "passages.npy", mmap_mode="r")  # as the cache hands it over: read-only
    scores, indices = exact_top_k(queries, passages, k, queries_per_chunk=queries_per_chunk,
                                  passages_per_block=passages_per_block)
    full = queries @ np.asarray(passages).T  # (11, 240)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :k]  # equal scores: lower row first
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(scores, np.take_along_axis(full, expected, axis=1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_exact_top_k_on_the_gpu_equals_a_stable_full_sort():
    generator = np.random.default_rng(1)
    queries = generator.integers(-2, 3, size=(37, 8)).astype(np.float32)  # exact scores, many ties
    passages = generator.integers(-2, 3, size=(3000, 8)).astype(np.float32)
    scores, indices = exact_top_k(queries, passages, 50, queries_per_chunk=16, passages_per_block=700,
                                  device="cuda")
    full = queries @ passages.T  # (37, 3000)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :50]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(scores, np.take_along_axis(full, expected, axis=1))


def test_token_lengths_tokenizes_a_bounded_number_of_texts_per_call(tiny_model):
    texts = [p.full_text() for p in _corpus(50)]
    calls = []

    class Recording:  # the real model's tokenizer, with the size of each call written down
        max_seq_length = tiny_model.max_seq_length

        def tokenizer(self, batch, **options):
            calls.append(len(batch))
            return tiny_model.tokenizer(batch, **options)

    lengths = token_lengths(Recording(), texts, "query: ", texts_per_call=8)
    assert max(calls) == 8 and sum(calls) == len(texts)
    reference = tiny_model.tokenizer(["query: " + t for t in texts], truncation=True,
                                     max_length=tiny_model.max_seq_length)["input_ids"]
    np.testing.assert_array_equal(lengths, [len(ids) for ids in reference])


def test_first_occurrences_stay_exact_when_digests_collide(monkeypatch):
    # one-byte digests: 400 distinct texts must share digests, and texts sharing one must still
    # count as distinct
    monkeypatch.setattr(texts_module, "_DIGEST_BYTES", 1)
    distinct = [f"text {i}" for i in range(400)]
    texts = distinct + distinct[::7] + ["text 3"] * 3
    first: dict[str, int] = {}
    expected = [first.setdefault(text, row) for row, text in enumerate(texts)]
    np.testing.assert_array_equal(first_occurrences(texts), expected)


def test_encode_in_blocks_matches_sentence_transformers_and_repeats_are_bitwise_copies(tiny_model):
    passages = _corpus(30, seed=1)
    passages += [passages[2], passages[17], passages[2]]  # repeats of rows in other blocks
    texts = PassageTexts(passages)
    ours = encode(tiny_model, texts, tokens_per_batch=64, rows_per_block=7)
    reference = tiny_model.encode([p.full_text() for p in passages], convert_to_numpy=True)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)
    for repeat, first in ((30, 2), (31, 17), (32, 2)):
        np.testing.assert_array_equal(ours[repeat], ours[first])


def test_encoding_a_corpus_into_the_cache_holds_about_one_block_not_the_matrix(tiny_model, tmp_path):
    # a 768-d head on the tiny model: the matrix (5,000 x 768 float32, 15 MB) outweighs what a
    # block needs (texts, token lengths: ~1-2 MB); the old encoder held it twice (the matrix and its
    # gather by duplicates) beside the whole corpus tokenized. Torch's own buffers are not traced,
    # NumPy's and Python's are.
    model = SentenceTransformer(modules=[*tiny_model, Dense(32, 768)], device="cpu")
    passages = _corpus(5000, seed=2)
    matrix_bytes = len(passages) * 768 * 4
    cache = EmbeddingCache(tmp_path, rows_per_block=1000)
    tracemalloc.start()
    try:
        embeddings = cache.encode(model, PassageTexts(passages), tokens_per_batch=2048)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(embeddings, np.memmap) and embeddings.shape == (5000, 768)
    assert peak < matrix_bytes / 4, f"peak {peak / 1e6:.1f} MB of Python and NumPy memory"
    sample = [0, 999, 1000, 4321, 4999]
    reference = model.encode([passages[i].full_text() for i in sample], normalize_embeddings=True)  # cosine model
    np.testing.assert_allclose(embeddings[sample], reference, rtol=0, atol=1e-5)
