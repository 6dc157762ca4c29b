"""The transformers backend with a tiny random Llama built in code (real loading and generate path)."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from corpustune.generate.backends.base import Request, Sampling
from corpustune.generate.backends.transformers import TransformersBackend
from tests.tiny_models import build_tokenizer

TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} . {% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)
WORDS = "system user assistant passage zinc colds lozenges adults shorten write a query for the top now . :"


def build_tiny_llama(folder):
    torch.manual_seed(0)
    tokenizer = build_tokenizer([WORDS])
    tokenizer.chat_template = TEMPLATE
    tokenizer.eos_token = "[SEP]"
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


MESSAGES = ({"role": "system", "content": "write a query"}, {"role": "user", "content": "passage zinc colds . now write"})


def test_greedy_matches_a_manual_argmax_loop(tmp_path):
    folder = build_tiny_llama(tmp_path / "llama")
    backend = TransformersBackend(str(folder), device="cpu")
    [completion] = backend.generate([Request(MESSAGES, 1)], Sampling(temperature=0.0, max_new_tokens=6))

    tokenizer, model = backend.tokenizer, AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tokenizer.apply_chat_template(list(MESSAGES), add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    generated = []
    with torch.inference_mode():
        for _ in range(6):
            next_id = int(model(ids).logits[0, -1].argmax())
            generated.append(next_id)
            if next_id == tokenizer.eos_token_id:
                break
            ids = torch.cat([ids, torch.tensor([[next_id]])], dim=1)
    assert completion.completion_tokens == len(generated)
    assert completion.text == tokenizer.decode(generated, skip_special_tokens=True)
    assert completion.prompt_tokens > 10


def test_sampling_is_reproducible_per_seed(tmp_path):
    backend = TransformersBackend(str(build_tiny_llama(tmp_path / "llama")), device="cpu")
    sampling = Sampling(temperature=1.5, max_new_tokens=8)
    first = backend.generate([Request(MESSAGES, s) for s in range(6)], sampling)
    again = backend.generate([Request(MESSAGES, s) for s in range(6)], sampling)
    assert [c.text for c in first] == [c.text for c in again]
    assert len({c.text for c in first}) > 1
    assert all(0 < c.completion_tokens <= 8 for c in first)
