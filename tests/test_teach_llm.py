"""The yes/no LLM teacher with the packaged SmolLM2-135M GGUF through llama.cpp."""

from __future__ import annotations

import numpy as np
import pytest

from corpustune.models import resolve_model

PAIRS = [
    ("does aspirin protect the heart", "Aspirin and the heart Aspirin lowers the risk of heart attack in adults over fifty."),
    ("is coffee bad for the liver", "Aspirin and the heart Aspirin lowers the risk of heart attack in adults over fifty."),
    ("is coffee bad for the liver", "Coffee Coffee consumption is linked to lower liver disease risk."),
    ("does aspirin protect the heart", "Coffee Coffee consumption is linked to lower liver disease risk."),
]


@pytest.fixture(scope="module")
def smollm_path():
    pytest.importorskip("llama_cpp")
    try:
        return resolve_model("smollm2-135m")
    except Exception as error:  # noqa: BLE001 - the packaged weights are optional here
        pytest.skip(f"packaged smollm2-135m not available: {error}")


@pytest.mark.parametrize("layout", ["passage_first", "query_first"])
def test_llm_scores_are_finite_deterministic_and_equal_fresh_evaluation(smollm_path, layout):
    from corpustune.teach.llm import LLMTeacher, prompt_parts

    teacher = LLMTeacher(smollm_path, layout=layout, n_ctx=512, n_threads=1)
    scores = teacher.score(PAIRS)
    assert scores.shape == (4,) and np.isfinite(scores).all()
    np.testing.assert_array_equal(teacher.score(PAIRS[::-1])[::-1], scores)
    scorer = teacher.scorer
    fresh = [
        scorer.margin(scorer.tokens(head) + scorer.tokens(tail), reuse=False)
        for head, tail in (prompt_parts(q, p, layout, teacher.max_passage_words) for q, p in PAIRS)
    ]
    np.testing.assert_allclose(scores, fresh, atol=1e-3)


def test_llm_prompt_layouts_put_the_shared_text_in_the_head():
    from corpustune.teach.llm import prompt_parts

    head, tail = prompt_parts("my query", "one two three four", "passage_first", max_passage_words=2)
    assert "one two" in head and "three" not in head and "my query" in tail
    head, tail = prompt_parts("my query", "one two", "query_first", max_passage_words=5)
    assert "my query" in head and "one two" in tail


def test_transformers_backend_batches_equal_single_prompts(tmp_path):
    """A tiny random GPT-2 (absolute positions, so padding must not shift them) through the transformers
    backend: left-padded batches give the scores of one prompt at a time."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from corpustune.teach.llm import LLMTeacher
    from tests.tiny_models import build_tokenizer

    texts = [q + " " + p for q, p in PAIRS] + ["yes no document search query answer"]
    tokenizer = build_tokenizer(texts, max_length=512)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=512)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    batched = LLMTeacher(str(tmp_path), backend="transformers", batch_size=4, max_passage_words=6).score(PAIRS)
    single = LLMTeacher(str(tmp_path), backend="transformers", batch_size=1, max_passage_words=6).score(PAIRS)
    assert np.isfinite(batched).all() and np.unique(batched).size == 4
    np.testing.assert_allclose(batched, single, atol=1e-4)
