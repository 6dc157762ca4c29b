"""Local GGUF models through llama-cpp-python (extra `llamacpp`), the offline default."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from corpustune.generate.backends.base import Completion, Request, Sampling
from corpustune.models import resolve_model
from corpustune.models.gguf import open_gguf


class LlamaCppBackend:
    """Chat completion with the GGUF's own chat template (generation prompt added by llama.cpp).

    Requests run one after another on one `Llama`; consecutive prompts that share a prefix (all
    types of one passage) reuse the evaluated prefix from the KV cache.
    """

    name = "llamacpp"
    preferred_batch_passages = 1

    def __init__(self, model: str, *, n_ctx: int = 4096, n_threads: int | None = None, n_gpu_layers: int = 0):
        path = resolve_model(model)
        self.model_id = Path(path).name
        self.llm = open_gguf(path, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers)

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        completions = []
        for request in requests:
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
            completions.append(
                Completion(
                    text=response["choices"][0]["message"].get("content") or "",
                    completion_tokens=int(usage.get("completion_tokens", 0)),
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                )
            )
        return completions

    def close(self) -> None:
        self.llm.close()
