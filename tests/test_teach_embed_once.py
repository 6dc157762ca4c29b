"""The bi-encoder teacher embeds each distinct text once per run, whatever the chunks.

References: sentence-transformers' own `encode` and cosine (fp32), and a count of the distinct
texts of the request.
"""

from __future__ import annotations

import numpy as np
import pytest

from corpustune.parallel import Context
from corpustune.retrieve.encode import EmbeddingCache
from corpustune.teach.biencoder import BiEncoderTeacher
from corpustune.teach.cache import ScoreCache
from corpustune.teach.scorer import score_pairs
from tests.test_teachers import all_pairs


def reference_cosine(model_path, pairs) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path))
    q = model.encode([p[0] for p in pairs])
    d = model.encode([p[1] for p in pairs])
    return (q * d).sum(1) / np.linalg.norm(q, axis=1) / np.linalg.norm(d, axis=1)


def texts_encoded(teacher: BiEncoderTeacher) -> int:
    return teacher.queries.texts_encoded + teacher.passages.texts_encoded


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_each_distinct_text_is_encoded_once_whatever_the_chunks(tiny_biencoder_path, tiny_passages, tmp_path,
                                                                 chunk_size):
    pairs = all_pairs(tiny_passages)  # every query with every passage: each text in many chunks
    teacher = BiEncoderTeacher(str(tiny_biencoder_path), precision="fp32", tokens_per_batch=64)
    cache = ScoreCache(tmp_path / "scores")
    scores = score_pairs(pairs, teacher, cache, Context(), chunk_size=chunk_size)
    cache.close()
    np.testing.assert_allclose(scores, reference_cosine(tiny_biencoder_path, pairs), atol=1e-5)
    distinct_texts = len({q for q, _ in pairs}) + len({p for _, p in pairs})
    assert len(pairs) > distinct_texts
    assert texts_encoded(teacher) == distinct_texts
    assert len(teacher.passages.batches) > 1  # the token budget really cut the passages into batches


def test_a_text_gets_the_same_vector_whichever_chunks_a_process_scores(tiny_biencoder_path, tiny_passages):
    """Two processes plan the same request and score disjoint halves (two ranks, or a resumed run
    that needs fewer pairs): the texts they share get bit-identical vectors."""
    pairs = all_pairs(tiny_passages)
    first = BiEncoderTeacher(str(tiny_biencoder_path), precision="fp32", tokens_per_batch=64)
    second = BiEncoderTeacher(str(tiny_biencoder_path), precision="fp32", tokens_per_batch=64)
    for teacher in (first, second):
        teacher.prepare(pairs)
    half = len(pairs) // 2
    first.score(pairs[:half])
    second.score(pairs[half:][::-1])
    shared = [p for _, p in pairs[:half] if p in {p for _, p in pairs[half:]}]
    assert shared
    np.testing.assert_array_equal(first.passages.embed(shared), second.passages.embed(shared))
    np.testing.assert_array_equal(first.score(pairs), second.score(pairs))


def test_corpus_embeddings_of_the_same_model_are_read_not_encoded(tiny_biencoder_path, tiny_passages, tmp_path):
    corpus = [p.full_text() for p in tiny_passages]
    embedding_cache = EmbeddingCache(tmp_path / "embeddings")
    options = dict(precision="fp32", passage_prompt="passage: ", corpus=corpus, embedding_cache=embedding_cache)
    pairs = all_pairs(tiny_passages)
    cold = BiEncoderTeacher(str(tiny_biencoder_path), **options)
    cold_scores = cold.score(pairs)
    assert not cold.corpus_reused and cold.passages.texts_encoded == len(corpus)
    # the whole corpus embedded by the same model and prompt, as mining does with its retriever
    embedding_cache.encode(cold.encoder, corpus, prompt="passage: ", tokens_per_batch=64)
    warm = BiEncoderTeacher(str(tiny_biencoder_path), **options)
    warm_scores = warm.score(pairs)
    assert warm.corpus_reused and warm.passages.texts_encoded == 0
    assert warm.queries.texts_encoded == len({q for q, _ in pairs})
    np.testing.assert_allclose(warm_scores, cold_scores, atol=1e-5)
    # another prompt is another request: nothing is read
    other = BiEncoderTeacher(str(tiny_biencoder_path), **{**options, "passage_prompt": "doc: "})
    other.score(pairs)
    assert not other.corpus_reused and other.passages.texts_encoded == len(corpus)


def test_a_tokenizer_that_has_encoded_keeps_its_fingerprint(tiny_biencoder_path):
    from corpustune.retrieve.encode import encode, load_encoder, model_fingerprint

    used, fresh = load_encoder(str(tiny_biencoder_path)), load_encoder(str(tiny_biencoder_path))
    before = model_fingerprint(used)
    encode(used, ["a text long enough to be padded", "short"], tokens_per_batch=64)
    assert model_fingerprint(used) == before == model_fingerprint(fresh)
