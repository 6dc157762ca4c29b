"""Any OpenAI-compatible chat server over plain HTTP (vLLM serve, llama.cpp server, Ollama, APIs).

Standard library only (urllib + threads), so it needs no extra. Each request is retried with
exponential backoff (plus jitter, honouring `Retry-After`) after 429, 5xx, timeouts, dropped
connections and malformed bodies; other 4xx answers stop at once, since repeating cannot help.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from corpustune.errors import CorpustuneError
from corpustune.generate.backends.base import Completion, Request, Sampling

RETRY_STATUS = {408, 409, 425, 429}


class GenerationServerError(CorpustuneError):
    """The server did not give a usable answer (after the retries, where retrying makes sense)."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIBackend:
    """POSTs `/chat/completions`, up to `max_concurrency` requests at once."""

    name = "openai"
    preferred_batch_passages = 8

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ):
        self.model_id = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = os.environ.get(api_key_env) or None
        self.max_concurrency = max(1, max_concurrency)
        self.timeout_s = timeout_s
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="corpustune-http")

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        futures = [self._pool.submit(self._complete, request, sampling) for request in requests]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _payload(self, request: Request, sampling: Sampling) -> bytes:
        body: dict = {
            "model": self.model_id,
            "messages": list(request.messages),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "seed": request.seed,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.json_output:
            body["response_format"] = {"type": "json_object"}
        return json.dumps(body).encode("utf-8")

    def _complete(self, request: Request, sampling: Sampling) -> Completion:
        payload = self._payload(request, sampling)
        errors: list[str] = []
        for attempt in range(self.max_retries + 1):
            try:
                return self._post(payload)
            except _Retryable as error:
                errors.append(str(error))
                if attempt == self.max_retries:
                    break
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
                time.sleep(min(self.max_backoff_s, max(delay, error.retry_after or 0.0)))
        raise GenerationServerError(
            f"POST {self.url} failed {len(errors)} times (1 try + {self.max_retries} retries); last error: "
            f"{errors[-1]}. Check that the server is up and serves model {self.model_id!r}, or raise "
            f"--max-retries / --timeout. Queries finished before this are kept; re-run to resume."
        )

    def _post(self, payload: bytes) -> Completion:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        http_request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode("utf-8", "replace")
            if error.code in RETRY_STATUS or error.code >= 500:
                raise _Retryable(f"HTTP {error.code}: {detail}", _retry_after(error.headers.get("Retry-After")))
            hint = " (set the API key's environment variable, see --api-key-env)" if error.code in (401, 403) else ""
            raise GenerationServerError(f"POST {self.url}: HTTP {error.code}{hint}: {detail}") from error
        except (TimeoutError, socket.timeout) as error:
            raise _Retryable(f"no answer within {self.timeout_s:g} s") from error
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            raise _Retryable(f"connection failed: {getattr(error, 'reason', error)}") from error
        return _parse(raw)


def _parse(raw: bytes) -> Completion:
    """The first choice's message; a body that is not a chat completion is retryable."""
    try:
        body = json.loads(raw)
        text = body["choices"][0]["message"]["content"]
        if text is not None and not isinstance(text, str):
            raise TypeError(f"content is {type(text).__name__}")
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise _Retryable(f"malformed response body ({error}): {raw[:200]!r}") from error
    usage = body.get("usage") or {}
    return Completion(
        text=text or "",
        completion_tokens=int(usage.get("completion_tokens") or 0),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
    )


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
