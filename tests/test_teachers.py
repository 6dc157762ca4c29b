"""Teachers against independent references: CrossEncoder.predict, sentence-transformers cosine,
BM25 retrieval scores, and fresh (no reuse) LLM evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from corpustune.errors import InputError
from corpustune.retrieve.bm25 import BM25Index
from corpustune.teach.biencoder import BiEncoderTeacher
from corpustune.teach.cross_encoder import CrossEncoderTeacher
from corpustune.teach.factory import parse_teacher
from corpustune.teach.lexical import BM25Teacher

QUERIES = ["what does aspirin do for the heart", "is coffee good for the liver", "how can sleep help memory"]


def all_pairs(passages):
    return [(q, p.full_text()) for q in QUERIES for p in passages]


def test_cross_encoder_teacher_equals_predict_logits(tiny_cross_encoder_path, tiny_passages):
    from sentence_transformers import CrossEncoder

    pairs = all_pairs(tiny_passages)
    pairs = pairs + pairs[:4]  # duplicates are scored once and returned for each position
    teacher = CrossEncoderTeacher(str(tiny_cross_encoder_path), max_length=128, tokens_per_batch=64, precision="fp32")
    ours = teacher.score(pairs)
    reference = CrossEncoder(str(tiny_cross_encoder_path), max_length=128).predict(
        pairs, batch_size=1, activation_fn=torch.nn.Identity()
    )
    assert ours.shape == (len(pairs),) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert np.unique(ours).size > 5  # a random head still separates pairs
    assert teacher.score([]).shape == (0,)


def test_biencoder_teacher_is_cosine_of_sentence_transformer(tiny_biencoder_path, tiny_passages):
    from sentence_transformers import SentenceTransformer

    pairs = all_pairs(tiny_passages)
    ours = BiEncoderTeacher(str(tiny_biencoder_path), precision="fp32").score(pairs)
    model = SentenceTransformer(str(tiny_biencoder_path))
    q = model.encode([p[0] for p in pairs])
    d = model.encode([p[1] for p in pairs])
    reference = (q * d).sum(1) / np.linalg.norm(q, axis=1) / np.linalg.norm(d, axis=1)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_bf16_teachers_agree_with_fp32_and_cache_apart(tiny_cross_encoder_path, tiny_biencoder_path, tiny_passages):
    # bf16 asked for by name runs on any CPU (emulated without bf16 instructions) with the same
    # rounding, so this holds on AVX2-only CPUs too (checked with torch's kernels capped at AVX2)
    pairs = all_pairs(tiny_passages)
    for build in (
        lambda precision: CrossEncoderTeacher(str(tiny_cross_encoder_path), max_length=128, precision=precision),
        lambda precision: BiEncoderTeacher(str(tiny_biencoder_path), precision=precision),
    ):
        full, half = build("fp32"), build("bf16")
        assert full.id != half.id  # a score cache never serves bf16 scores to an fp32 run
        exact, approximate = full.score(pairs), half.score(pairs)
        assert approximate.dtype == np.float32
        # bf16 keeps 8 bits of mantissa: each score within a few percent of its fp32 value
        np.testing.assert_allclose(approximate, exact, rtol=0.05, atol=0.01 * np.abs(exact).max())
        assert not np.array_equal(approximate, exact)  # it really ran in bf16


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_precision_follows_the_hardware(native_bf16, monkeypatch):
    from corpustune import hardware

    # both kinds of CPU on any machine: an AVX2-only one (no bf16 instructions) and one with avx512_bf16
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native_bf16)
    assert hardware.inference_dtype("fp32", "cpu") == torch.float32
    assert hardware.inference_dtype("bf16", "cpu") == torch.bfloat16
    assert hardware.inference_dtype("auto", "cpu") == (torch.bfloat16 if native_bf16 else torch.float32)


def test_bm25_teacher_matches_bm25_retrieval_scores(tiny_passages):
    teacher = BM25Teacher(tiny_passages)
    pairs = all_pairs(tiny_passages)
    ours = teacher.score(pairs)
    run = BM25Index(tiny_passages).run(["q"] * 0 + [str(i) for i in range(len(QUERIES))], QUERIES, k=6)
    for (query, text), score in zip(pairs, ours):
        passage = next(p for p in tiny_passages if p.full_text() == text)
        expected = run[str(QUERIES.index(query))].get(passage.id, 0.0)
        assert score == pytest.approx(expected, rel=1e-6)
    assert ours.max() > 0
    with pytest.raises(InputError, match="not in the indexed corpus"):
        teacher.score([("aspirin", "a passage that was never indexed")])


def test_parse_teacher():
    spec = parse_teacher("biencoder:mpnet@0.5")
    assert (spec.kind, spec.model, spec.weight) == ("biencoder", "mpnet", 0.5)
    assert parse_teacher("bm25").model is None
    assert parse_teacher("cross-encoder:/models/x:y").model == "/models/x:y"
    with pytest.raises(InputError, match="kind must be one of"):
        parse_teacher("reranker:foo")
