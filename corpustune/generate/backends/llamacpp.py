"""Local GGUF models through llama-cpp-python (extra `llamacpp`), the offline default."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from corpustune.generate.backends.base import Completion, Request, Sampling
from corpustune.models import resolve_model
from corpustune.models.gguf import open_gguf

MAX_SEQUENCES = 64
"""Sequences one batched decode holds at most; a call with more requests runs in chunks."""


def chat_formatter(llm):
    """The chat formatter `Llama.create_chat_completion` uses for `llm`'s GGUF chat template, built
    as `Llama.__init__` builds it (template from the metadata, the model's BOS and EOS texts), or
    None when `llm` uses one of llama-cpp-python's named formats instead."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    if llm.chat_handler is not None or not (llm.chat_format or "").startswith("chat_template."):
        return None
    name = llm.chat_format[len("chat_template.") :]
    template = llm.metadata["tokenizer.chat_template" if name == "default" else f"tokenizer.chat_template.{name}"]
    eos, bos = llm.token_eos(), llm.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )


class LlamaCppBackend:
    """Chat completion with the GGUF's own chat template (generation prompt added).

    With `batch_decode` (and plain-text sampling), all requests of one `generate` call are decoded
    together by a `BatchDecoder`: the shared prefix (system message and passage) is evaluated once,
    each distinct prompt suffix once, and all samples step in lockstep, so several samples per
    prompt cost mostly decoding. JSON mode (a grammar), a named chat format, and calls too large for
    the context run one `create_chat_completion` after another instead, where consecutive prompts
    that share a prefix reuse the evaluated prefix from the KV cache.
    """

    name = "llamacpp"
    preferred_batch_passages = 1

    def __init__(
        self,
        model: str,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        batch_decode: bool = True,
    ):
        path = resolve_model(model, "gguf")
        self.model_id = Path(path).name
        self.llm = open_gguf(path, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers)
        self.formatter = chat_formatter(self.llm) if batch_decode else None
        self.decoder = None
        if self.formatter is not None:
            from corpustune.generate.backends.batched import BatchDecoder

            self.decoder = BatchDecoder(self.llm, n_ctx=n_ctx, n_seq_max=MAX_SEQUENCES)

    def chat_tokens(self, messages: Sequence[dict[str, str]]) -> tuple[list[int], list[str]]:
        """The prompt tokens `create_chat_completion` evaluates for `messages`, and the stop strings
        its chat format adds."""
        result = self.formatter(messages=list(messages))
        tokens = self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, stop

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        if self.decoder is None or sampling.json_output:
            return self.generate_sequential(requests, sampling)
        completions = []
        for start in range(0, len(requests), self.decoder.n_seq_max):
            completions += self._batched(requests[start : start + self.decoder.n_seq_max], sampling)
        return completions

    def _batched(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        """Decode `requests` together, or one by one when they do not fit the batch context."""
        formatted = [self.chat_tokens(r.messages) for r in requests]
        prompts = [tokens for tokens, _ in formatted]
        if not self.decoder.fits(prompts, sampling.max_new_tokens):
            return self.generate_sequential(requests, sampling)
        decoded = self.decoder.decode(
            prompts,
            [r.seed for r in requests],
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_new_tokens,
            stop=list(sampling.stop) + formatted[0][1],
        )
        return [Completion(d.text, len(d.tokens), len(p)) for d, p in zip(decoded, prompts)]

    def generate_sequential(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        """One `create_chat_completion` call per request, in order (the path without batching)."""
        return [self._one(request, sampling) for request in requests]

    def _one(self, request: Request, sampling: Sampling) -> Completion:
        """One `create_chat_completion` call."""
        response = self.llm.create_chat_completion(
            messages=list(request.messages),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            stop=list(sampling.stop) or None,
            seed=request.seed,
            response_format={"type": "json_object"} if sampling.json_output else None,
        )
        usage = response.get("usage") or {}
        return Completion(
            text=response["choices"][0]["message"].get("content") or "",
            completion_tokens=int(usage.get("completion_tokens", 0)),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
        )

    def close(self) -> None:
        if self.decoder is not None:
            self.decoder.close()
        self.llm.close()
