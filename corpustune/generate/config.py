"""Settings of the query-generation stage; defaults follow the paper (DESIGN.md, section 1)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corpustune.generate.prompts import FewShotLayout
from corpustune.generate.types import BUILTIN_TYPES, EXAMPLES_TYPE

BackendName = Literal["llamacpp", "openai", "vllm", "transformers"]

CAP_STEPS = 100
"""Optimizer steps of one training epoch that the default `max_passages` provides lists for."""
CAP_MARGIN = 4.0
"""Generated queries the default `max_passages` plans for each training list: the filters (copies,
duplicates, the retriever filter, the teacher's) keep about one in four (the laptop preset on
SciFact, 2026-12-03: 4.4 kept training lists per training passage of 18 generated queries)."""


class BackendConfig(BaseModel):
    """Which engine runs the LLM and how; only the fields of the chosen backend are used."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: BackendName = "llamacpp"
    model: str = "qwen-coder-1.5b"
    """Alias, local path (GGUF file or HF folder) or hub id; for `openai` the served model name."""
    n_ctx: int = 4096
    """llama.cpp: context length in tokens."""
    n_threads: int | None = None
    """llama.cpp: CPU threads (None: every core this process may use)."""
    n_gpu_layers: int = 0
    """llama.cpp: layers offloaded to a GPU (-1: all)."""
    batch_decode: bool = True
    """llama.cpp: decode all plain-text requests of a passage together (shared prefix evaluated once,
    samples decoded in lockstep); False: one `create_chat_completion` call after another."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """openai: the server's base URL, up to and including `/v1`."""
    api_key_env: str = "OPENAI_API_KEY"
    """openai: environment variable holding the API key (unset: no Authorization header)."""
    max_concurrency: int = 8
    """openai: requests in flight at once."""
    timeout_s: float = 60.0
    """openai: seconds before one request counts as timed out."""
    max_retries: int = 5
    """openai: retries of one request after 429, 5xx, timeouts and malformed bodies."""
    backoff_s: float = 1.0
    """openai: first retry delay; doubles on each retry (capped by `max_backoff_s`), with jitter."""
    max_backoff_s: float = 30.0
    tensor_parallel_size: int = 1
    """vllm: GPUs per model replica."""
    data_parallel_size: int = 1
    """vllm: model replicas."""
    gpu_memory_utilization: float = 0.9
    """vllm: fraction of GPU memory vLLM may take."""
    device: str | None = None
    """transformers: torch device (None: cuda if available, else cpu)."""
    trust_remote_code: bool = False
    """transformers / vllm: run code shipped with the model (off unless you trust it)."""


class GenerateConfig(BaseModel):
    """Everything that decides which queries are generated and which are kept."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    backend: BackendConfig = Field(default_factory=BackendConfig)
    types: tuple[str, ...] = BUILTIN_TYPES
    """Built-in type names or paths of YAML type declarations."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Queries per passage for a type; types not listed get `default_count`."""
    example_queries: str | None = None
    """A file of your own example queries (one a line, or a BEIR queries.jsonl; `--example-queries`):
    adds the query type `examples`, written like them (`few_shot_count` of them in each prompt,
    drawn per passage). A handful from a search log is enough; never evaluate on them."""
    default_count: int = Field(1, ge=1)
    types_per_passage: int | None = Field(None, ge=1)
    """Query types each training passage gets, a seeded subset of `types` per passage (None: every
    type). The passage, shared by the prompts, is read once per passage, but each type adds its own
    prompt tail (about as long as a passage), so 2 of the 6 built-in types take about half the time
    of all six (`benchmarks/generate.py`) and a budget covers more passages. Held-out passages always
    get every type."""
    json_mode: bool = False
    """Ask for all types in one JSON call per passage instead of one call per type."""
    temperature: float = Field(0.8, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(50, ge=1)
    json_max_new_tokens: int = Field(400, ge=1)
    """Token budget of one JSON-mode call (it holds every type)."""
    stop: tuple[str, ...] = ("\n",)
    """Stop strings of plain-text calls; only the first line is kept anyway."""
    passage_max_chars: int = Field(2048, ge=1)
    """Passages (title + text) are cut to this many characters in the prompt."""
    few_shot_count: int = Field(3, ge=0)
    """Examples drawn at random (seeded per passage) from a type's example pool."""
    few_shot_layout: FewShotLayout = "queries"
    """How a per-type prompt shows its examples: "queries" (the example queries only) or "passages"
    (each example query under its passage: about 3x the prompt tokens, and a small model copies the
    example passages' topics more often)."""
    seed: int = 13
    max_passages: int | None = Field(None, ge=1)
    """Passages sampled from the corpus (None: all). Left unset in a run's settings, the run config
    sets it to `default_max_passages`: heldout_count + ceil(CAP_MARGIN (4) x CAP_STEPS (100) x
    train.queries_per_step / queries per passage (the sum of the types' counts)), enough lists for
    100 optimizer steps an epoch after the filters; 4,367 passages with the default settings. A
    value given (a number, or null for all) wins."""
    min_passage_chars: int = Field(10, ge=0)
    """Passages shorter than this (title + text, characters) are skipped and counted."""
    heldout_count: int = Field(100, ge=0)
    """Passages held out from training (at most `heldout_max_fraction` of the sample); their queries
    form a synthetic test set per type and decide what the select stage publishes."""
    heldout_max_fraction: float = Field(0.2, ge=0.0, le=1.0)
    """Held-out passages never exceed this fraction of the sample (small corpora)."""
    batch_passages: int | None = Field(None, ge=1)
    """Passages per backend call and per log append (None: the backend's preference)."""
    copy_ngram: int = Field(3, ge=1)
    """Word n-gram size of the passage-copy test."""
    copy_threshold: float = Field(0.75, gt=0.0, le=1.0)
    """A query whose word n-grams lie in the passage at least this often is a copy."""
    near_duplicate_jaccard: float = Field(0.8, gt=0.0, le=1.0)
    """Two queries of one passage whose word sets overlap this much (Jaccard) are near duplicates."""

    @model_validator(mode="after")
    def _subset_needs_per_type_calls(self) -> GenerateConfig:
        if self.types_per_passage is not None and self.json_mode:
            raise ValueError(
                "generate.types_per_passage picks types for per-type calls, and generate.json_mode asks every "
                "type in one call: unset one of them"
            )
        return self

    def count_for(self, type_name: str) -> int:
        return int(self.counts.get(type_name, self.default_count))

    def queries_per_passage(self) -> float:
        """Queries asked for each sampled training passage, all its types together (a type given as
        a path counts `default_count` unless `counts` names the path); with `types_per_passage`, the
        mean over the seeded subsets (each type is in a passage's subset with probability k / n)."""
        names = self.type_names()
        every = sum(self.count_for(name) for name in names)
        k = self.subset_size(len(names))
        return float(every) if k is None else every * k / len(names)

    def subset_size(self, available: int) -> int | None:
        """How many of `available` types a training passage draws: `types_per_passage` where it is
        smaller than `available`, else None (every passage gets them all)."""
        k = self.types_per_passage
        return k if k is not None and k < available else None

    def type_names(self) -> tuple[str, ...]:
        """`types`, and the `examples` type when `example_queries` is set."""
        return (*self.types, EXAMPLES_TYPE) if self.example_queries is not None else self.types


def default_max_passages(generate: GenerateConfig, queries_per_step: int) -> int:
    """The passages to sample when `max_passages` is not set: the held-out ones plus enough for
    CAP_STEPS training steps of `queries_per_step` lists, CAP_MARGIN generated queries a kept list."""
    wanted = math.ceil(CAP_MARGIN * CAP_STEPS * queries_per_step / generate.queries_per_passage())
    return generate.heldout_count + wanted
