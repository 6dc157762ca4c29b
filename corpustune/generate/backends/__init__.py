"""Generation backends behind one protocol (`base.Backend`); `make_backend` picks one by config."""

from __future__ import annotations

from corpustune.generate.backends.base import Backend, Completion, Message, Request, Sampling
from corpustune.generate.config import BackendConfig


def make_backend(config: BackendConfig) -> Backend:
    """Build the configured backend; heavy engines are imported only here, lazily."""
    if config.name == "llamacpp":
        from corpustune.generate.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(
            config.model, n_ctx=config.n_ctx, n_threads=config.n_threads, n_gpu_layers=config.n_gpu_layers,
            batch_decode=config.batch_decode,
        )
    if config.name == "openai":
        from corpustune.generate.backends.openai import OpenAIBackend

        return OpenAIBackend(
            config.model,
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            max_concurrency=config.max_concurrency,
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
            backoff_s=config.backoff_s,
            max_backoff_s=config.max_backoff_s,
        )
    if config.name == "vllm":
        from corpustune.generate.backends.vllm import VLLMBackend

        return VLLMBackend(
            config.model,
            tensor_parallel_size=config.tensor_parallel_size,
            data_parallel_size=config.data_parallel_size,
            gpu_memory_utilization=config.gpu_memory_utilization,
            trust_remote_code=config.trust_remote_code,
        )
    from corpustune.generate.backends.transformers import TransformersBackend

    return TransformersBackend(config.model, device=config.device, trust_remote_code=config.trust_remote_code)


__all__ = ["Backend", "Completion", "Message", "Request", "Sampling", "make_backend"]
