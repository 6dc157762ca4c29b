"""The one small protocol every generation backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class Sampling:
    """Decoding settings shared by all requests of one call."""

    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 50
    stop: tuple[str, ...] = ()
    json_output: bool = False
    """Ask the engine for a JSON object (grammar / response_format) where it can."""


@dataclass(frozen=True, slots=True)
class Request:
    """One chat to complete; `seed` makes the sample reproducible where the engine allows."""

    messages: tuple[Message, ...]
    seed: int


@dataclass(frozen=True, slots=True)
class Completion:
    """The generated text and token counts (0 when the engine does not report them)."""

    text: str
    completion_tokens: int = 0
    prompt_tokens: int = 0


class Backend(Protocol):
    """Completes chats. `generate` returns one Completion per request, in request order."""

    name: str
    model_id: str
    """What identifies the weights in cache keys and in `Query.generator` (path or served name)."""
    preferred_batch_passages: int

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]: ...

    def close(self) -> None: ...
