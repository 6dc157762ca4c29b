"""The batched llama.cpp decoder: its sampler against NumPy, its outputs against `create_chat_completion`."""

from __future__ import annotations

import numpy as np
import pytest

from corpustune.generate.backends.base import Request, Sampling
from corpustune.generate.backends.batched import MIN_P, TOP_K, sample_token, shared_prefix_length
from corpustune.models.registry import PACKAGED_MODELS
from corpustune.models.resolve import is_available


def test_shared_prefix_leaves_one_token_of_each_prompt():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[7], [7, 8]]) == 0
    assert shared_prefix_length([[1, 2], [3, 4]]) == 0


def test_sampler_keeps_llama_cpp_candidates_and_is_seeded():
    logits = np.random.default_rng(0).normal(size=1000).astype(np.float32) * 3
    assert sample_token(logits, np.random.default_rng(1), 0.0, 1.0) == int(np.argmax(logits))
    probs = np.exp(logits - logits.max())
    allowed = set(np.argsort(-logits)[:TOP_K]) & set(np.flatnonzero(probs >= MIN_P))
    draws = [sample_token(logits, np.random.default_rng(seed), 1.5, 1.0) for seed in range(300)]
    assert set(draws) <= allowed and len(set(draws)) > 1
    assert draws == [sample_token(logits, np.random.default_rng(seed), 1.5, 1.0) for seed in range(300)]
    # top-p 0.5 keeps the smallest head of the softmax (temperature 1) reaching half the mass
    order = np.argsort(-logits)
    head = np.cumsum(probs[order] / probs.sum())
    nucleus = set(order[: int(np.searchsorted(head, 0.5)) + 1])
    assert {sample_token(logits, np.random.default_rng(s), 1.5, 0.5) for s in range(300)} <= nucleus
    # a low temperature concentrates the draws on the best token
    cold = [sample_token(logits, np.random.default_rng(s), 0.05, 1.0) for s in range(50)]
    assert cold.count(int(np.argmax(logits))) >= 45


pytest.importorskip("llama_cpp")
needs_smollm2 = pytest.mark.skipif(
    not is_available(PACKAGED_MODELS["smollm2-135m"]), reason="the packaged smollm2-135m model is not installed"
)
PASSAGE = (
    "Zinc lozenges taken within a day of the first symptoms shorten the common cold by about a third in "
    "adults, according to a pooled analysis of seven randomised trials."
)
TASKS = (
    "Write one question a reader would ask that this passage answers.",
    "Write a short title for this passage.",
    "Write three search keywords for this passage.",
    "Write one question a reader would ask that this passage answers.",  # identical prompt, other seed
)


def requests() -> list[Request]:
    return [
        Request(({"role": "system", "content": "You write search queries."},
                 {"role": "user", "content": f"Passage:\n{PASSAGE}\n\nTask: {task}"}), seed)
        for seed, task in enumerate(TASKS)
    ]


@pytest.fixture(scope="module")
def backend():
    from corpustune.generate.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend("smollm2-135m", n_ctx=2048, n_threads=2)
    yield backend
    backend.close()


def reference(backend, request: Request, sampling: Sampling) -> dict:
    return backend.llm.create_chat_completion(
        messages=list(request.messages), temperature=0.0, max_tokens=sampling.max_new_tokens,
        stop=list(sampling.stop) or None,
    )


@needs_smollm2
def test_greedy_batch_equals_create_chat_completion(backend):
    """Greedy decoding of the batch against llama-cpp-python's own sequential path. The batch sums
    attention and matrix products over other shapes (several sequences per ubatch), so logits may
    differ in the last float bits and a near-tie could flip a later token on another CPU: each text
    must start with the reference's first tokens, and here all of it agreed (checked on the first
    four tokens, which a flip this early would need a tie at the top of a fresh distribution)."""
    sampling = Sampling(temperature=0.0, max_new_tokens=24, stop=("\n",))
    batched = backend.generate(requests(), sampling)
    for request, completion in zip(requests(), batched):
        expected = reference(backend, request, sampling)
        prompt, _ = backend.chat_tokens(request.messages)
        assert completion.prompt_tokens == len(prompt) == expected["usage"]["prompt_tokens"]
        head = backend.llm.detokenize(backend.llm.tokenize(completion.text.encode(), add_bos=False)[:4]).decode()
        assert expected["choices"][0]["message"]["content"].startswith(head) and head
    assert batched[0].text == batched[3].text  # identical prompts decode alike when greedy


@needs_smollm2
def test_sampled_batch_is_reproducible_and_respects_limits(backend):
    sampling = Sampling(temperature=0.9, top_p=0.95, max_new_tokens=6, stop=())
    first = backend.generate(requests(), sampling)
    assert first == backend.generate(requests(), sampling)
    assert all(c.completion_tokens == 6 for c in first)  # no stop string: the budget ends each one
    reseeded = [Request(r.messages, r.seed + 100 * k) for k in range(3) for r in requests()]
    assert len({c.text for c in backend.generate(reseeded, sampling)}) > len(TASKS)  # seeds differ, texts too
    stopped = backend.generate(requests(), Sampling(temperature=0.9, max_new_tokens=40, stop=(" ",)))
    # a space after the first word ends every sequence; the text stops before it
    assert all(" " not in c.text.strip() and 0 < c.completion_tokens < 40 for c in stopped)


@needs_smollm2
def test_a_call_too_large_for_the_batch_context_runs_sequentially(backend):
    sampling = Sampling(temperature=0.0, max_new_tokens=2000, stop=("\n",))
    prompt = backend.chat_tokens(requests()[0].messages)[0]
    assert not backend.decoder.fits([prompt], sampling.max_new_tokens)
    out = backend.generate(requests()[:1], sampling)
    assert out[0].text == reference(backend, requests()[0], sampling)["choices"][0]["message"]["content"]
