"""Offline batch generation with `vllm.LLM` on GPU machines (extra `vllm`, imported lazily)."""

from __future__ import annotations

from collections.abc import Sequence

from corpustune.errors import require_extra
from corpustune.generate.backends.base import Completion, Request, Sampling
from corpustune.models import resolve_model


class VLLMBackend:
    """All requests of a call go to `LLM.chat` at once; vLLM schedules and batches them."""

    name = "vllm"
    preferred_batch_passages = 512

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        trust_remote_code: bool = False,
    ):
        vllm = require_extra("vllm", "vllm")
        self.model_id = model
        options = {"data_parallel_size": data_parallel_size} if data_parallel_size > 1 else {}
        self.llm = vllm.LLM(
            model=resolve_model(model, "llm"),
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            trust_remote_code=trust_remote_code,
            enable_prefix_caching=True,
            **options,
        )
        self._sampling_params = vllm.SamplingParams

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        if not requests:
            return []
        params = [
            self._sampling_params(
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                stop=list(sampling.stop) or None,
                seed=request.seed,
            )
            for request in requests
        ]
        outputs = self.llm.chat([list(r.messages) for r in requests], params, use_tqdm=False)
        return [
            Completion(
                text=output.outputs[0].text,
                completion_tokens=len(output.outputs[0].token_ids),
                prompt_tokens=len(output.prompt_token_ids or ()),
            )
            for output in outputs
        ]

    def close(self) -> None:
        del self.llm
