"""Pointwise LLM reranker: score = logit("Yes") - logit("No") for the token after a yes/no question.

Two prompt layouts (ChatML, which Qwen2.5 and SmolLM2 use):
- `passage_first`: instruction + passage, then the query. All queries that share a passage reuse
  its computed KV state; pairs are scored grouped by passage.
- `query_first`: instruction + query, then the passage. The passages of one query's list reuse the
  query's KV state.
Either way the instruction prefix is computed once. `benchmarks/teacher.py` measures which is
faster on real candidate lists.

Backends: llama.cpp (GGUF files, e.g. the packaged `qwen-coder-1.5b`) with prefix reuse, and
transformers (any causal LM; batched, no reuse) as the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from corpustune.errors import InputError, require_extra
from corpustune.models import resolve_model
from corpustune.models.gguf import open_gguf
from corpustune.teach.base import Pair, unique_pairs

Layout = Literal["passage_first", "query_first"]

SYSTEM = "You are a careful search-quality rater. Reply with a single word: Yes or No."
QUESTION = (
    "Does the document contain information that answers, supports or directly addresses the "
    "search query? Answer Yes or No."
)
PASSAGE_FIRST = (
    "<|im_start|>system\n" + SYSTEM + "<|im_end|>\n<|im_start|>user\nDocument:\n{passage}\n\n",
    "Search query: {query}\n\n" + QUESTION + "<|im_end|>\n<|im_start|>assistant\n",
)
QUERY_FIRST = (
    "<|im_start|>system\n" + SYSTEM + "<|im_end|>\n<|im_start|>user\nSearch query: {query}\n\n",
    "Document:\n{passage}\n\n" + QUESTION + "<|im_end|>\n<|im_start|>assistant\n",
)
PROMPT_VERSION = "yesno-v1"


def cut_words(text: str, max_words: int) -> str:
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words])


def prompt_parts(query: str, passage: str, layout: Layout, max_passage_words: int) -> tuple[str, str]:
    """The shared head (instruction + first text) and the per-pair tail of one pair's prompt."""
    head, tail = PASSAGE_FIRST if layout == "passage_first" else QUERY_FIRST
    fields = {"query": query, "passage": cut_words(passage, max_passage_words)}
    return head.format(**fields), tail.format(**fields)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class LlamaCppScorer:
    """Yes/no logit margins through llama.cpp, reusing the KV state of the longest shared prefix."""

    def __init__(self, model_path: str, *, n_ctx: int = 2048, n_threads: int | None = None, n_batch: int = 512):
        self.llm = open_gguf(model_path, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch, logits_all=False, seed=0)
        self.yes = self._single_token("Yes")
        self.no = self._single_token("No")

    def _single_token(self, word: str) -> int:
        ids = self.llm.tokenize(word.encode(), add_bos=False, special=False)
        if len(ids) != 1:
            raise InputError(f"the LLM's tokenizer splits {word!r} into {len(ids)} tokens; a yes/no teacher needs one")
        return ids[0]

    def tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    def margin(self, tokens: list[int], *, reuse: bool = True) -> float:
        """logit(Yes) - logit(No) after `tokens`; with `reuse`, only the part after the prefix
        shared with the tokens already in the context is evaluated."""
        if len(tokens) >= self.llm.n_ctx():
            raise InputError(
                f"LLM prompt of {len(tokens)} tokens does not fit the context of {self.llm.n_ctx()}; "
                "lower max_passage_words or raise n_ctx"
            )
        keep = common_prefix(self.llm.input_ids[: self.llm.n_tokens], tokens) if reuse else 0
        keep = min(keep, len(tokens) - 1)  # at least one token must be evaluated to get its logits
        self.llm.n_tokens = keep
        self.llm.eval(tokens[keep:])
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),))
        return float(logits[self.yes]) - float(logits[self.no])


class TransformersScorer:
    """The same margins through a transformers causal LM, left-padded batches, no prefix reuse."""

    def __init__(self, model: str, *, batch_size: int = 8, device: str | None = None, trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_model(model)
        options = {"trust_remote_code": trust_remote_code}
        if path.endswith(".gguf"):
            require_extra("gguf", "gguf")
            from pathlib import Path

            options["gguf_file"] = Path(path).name
            path = str(Path(path).parent)
        self.tokenizer = AutoTokenizer.from_pretrained(path, **options)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, **options).to(device or "cpu").eval()
        self.batch_size = batch_size
        self._torch = torch
        self.yes = self._single_token("Yes")
        self.no = self._single_token("No")

    def _single_token(self, word: str) -> int:
        ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise InputError(f"the LLM's tokenizer splits {word!r} into {len(ids)} tokens; a yes/no teacher needs one")
        return ids[0]

    def margins(self, prompts: Sequence[str]) -> np.ndarray:
        out = np.empty(len(prompts), dtype=np.float32)
        with self._torch.inference_mode():
            for start in range(0, len(prompts), self.batch_size):
                batch = self.tokenizer(
                    list(prompts[start : start + self.batch_size]), return_tensors="pt", padding=True,
                    add_special_tokens=False,
                ).to(self.model.device)
                # left padding: positions count real tokens only, as in an unpadded prompt
                positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)  # (batch, length)
                logits = self.model(**batch, position_ids=positions).logits[:, -1, :].float()  # (batch, vocab)
                out[start : start + len(logits)] = (logits[:, self.yes] - logits[:, self.no]).cpu().numpy()
        return out


class LLMTeacher:
    """Yes/no LLM reranker teacher. `backend` is `llamacpp` for GGUF files, else `transformers`."""

    def __init__(
        self,
        model: str = "qwen-coder-1.5b",
        *,
        backend: Literal["auto", "llamacpp", "transformers"] = "auto",
        layout: Layout = "passage_first",
        max_passage_words: int = 150,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        batch_size: int = 8,
        device: str | None = None,
    ):
        path = resolve_model(model)
        if backend == "auto":
            backend = "llamacpp" if path.endswith(".gguf") else "transformers"
        self.backend = backend
        self.layout = layout
        self.max_passage_words = max_passage_words
        if backend == "llamacpp":
            self.scorer = LlamaCppScorer(path, n_ctx=n_ctx, n_threads=n_threads)
        else:
            self.scorer = TransformersScorer(model, batch_size=batch_size, device=device)
        self.id = f"llm:{model}:{PROMPT_VERSION}:{layout}:words{max_passage_words}"

    def score(self, pairs: Sequence[Pair]) -> np.ndarray:
        """logit(Yes) - logit(No), float32 (len(pairs),). Pairs with the same head (the passage in
        `passage_first`, the query in `query_first`) are scored one after another."""
        distinct, inverse = unique_pairs(pairs)
        parts = [prompt_parts(q, p, self.layout, self.max_passage_words) for q, p in distinct]
        scores = np.empty(len(distinct), dtype=np.float32)
        order = sorted(range(len(distinct)), key=lambda i: parts[i])
        if self.backend == "llamacpp":
            heads: dict[str, list[int]] = {}
            for i in order:
                head, tail = parts[i]
                if head not in heads:
                    heads = {head: self.scorer.tokens(head)}  # only the current group's head is needed
                scores[i] = self.scorer.margin(heads[head] + self.scorer.tokens(tail))
        else:
            prompts = [parts[i][0] + parts[i][1] for i in order]
            scores[order] = self.scorer.margins(prompts)
        return scores[inverse]
