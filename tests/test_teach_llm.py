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
