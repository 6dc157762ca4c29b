"""Run generation incrementally and resumably, then write the stage's outputs.

Raw completions are appended to the run's generation log (`RunLayout.generation_log`, outside
the stage folder so that it survives a change of settings) as each batch of passages finishes
(fsync'd by `JsonlAppender`). Every log record carries a key (the hash of the model, the type
declaration, the prompt version and the sampling settings) and the hash of the passage text it
was written for. A re-run skips each (key, passage, type) already in the log whose passage text
is unchanged, so a kill loses at most the batch in flight, a changed setting regenerates only
what it affects, and an edited passage gets new queries. Cleaning and filtering run on the log at the end, so
changing a filter threshold costs no generation.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from corpustune.data.atomic import JsonlAppender, read_jsonl_log
from corpustune.data.records import Passage
from corpustune.generate.backends import Backend, Request, Sampling, make_backend
from corpustune.generate.config import GenerateConfig
from corpustune.generate.outputs import write_outputs
from corpustune.generate.prompts import json_messages, pick_examples, prompt_version, stable_seed, type_messages
from corpustune.generate.sampling import passage_types, sample_passages
from corpustune.generate.types import QueryType, configured_types
from corpustune.layout import RunLayout

JSON_TYPE = "__json__"
"""Log records of JSON mode, one per passage holding every type."""


@dataclass(frozen=True, slots=True)
class Job:
    """The calls one passage still needs for one type (or for all types, in JSON mode)."""

    passage: Passage
    type_name: str
    key: str
    requests: tuple[Request, ...]


@dataclass
class GenerationResult:
    """What `run_generation` wrote (`stats`, as in stats.json) and did: LLM calls made now and
    sampled passages whose completions all came from the log."""

    out_dir: Path
    stats: dict
    generated_calls: int
    reused_records: int


def generator_name(config: GenerateConfig) -> str:
    """What `Query.generator` records: backend and model as configured."""
    return f"{config.backend.name}:{config.backend.model}"


def settings_key(config: GenerateConfig, type_part: str, count: int) -> str:
    """Hash of everything that changes the raw completions of one type (or of a JSON call)."""
    payload = {
        "generator": generator_name(config),
        "type": type_part,
        # the few-shot layout enters through the prompt version: logs of the v1 layout stay valid
        "prompt_version": prompt_version(config.few_shot_layout, config.json_mode),
        "count": count,
        "json_mode": config.json_mode,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_new_tokens": config.json_max_new_tokens if config.json_mode else config.max_new_tokens,
        "stop": [] if config.json_mode else list(config.stop),
        "passage_max_chars": config.passage_max_chars,
        "few_shot_count": config.few_shot_count,
        "seed": config.seed,
    }
    if config.backend.name == "llamacpp" and config.backend.batch_decode and not config.json_mode:
        # the batched decoder draws its samples with NumPy, so a seed gives other texts
        payload["decoder"] = "batched"
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def type_keys(config: GenerateConfig, types: list[QueryType]) -> dict[str, str]:
    """Cache key per log `type` field: per type, or one JSON_TYPE key for the whole JSON call."""
    if config.json_mode:
        joined = ",".join(t.fingerprint() for t in types)
        return {JSON_TYPE: settings_key(config, joined, config.default_count)}
    return {t.name: settings_key(config, t.fingerprint(), config.count_for(t.name)) for t in types}


def plan_jobs(
    passage: Passage, types: list[QueryType], keys: dict[str, str], done: set, config: GenerateConfig, *, heldout: bool
) -> list[Job]:
    """The jobs of `passage` (held out or not) whose (key, passage, type) is not in `done`."""
    jobs = []
    if config.json_mode:
        key = keys[JSON_TYPE]
        if (key, passage.id, JSON_TYPE) not in done:
            examples = {t.name: pick_examples(t, config.few_shot_count, config.seed, passage.id) for t in types}
            messages = tuple(json_messages(passage, types, examples, config.passage_max_chars))
            requests = tuple(
                Request(messages, stable_seed(config.seed, passage.id, JSON_TYPE, i)) for i in range(config.default_count)
            )
            jobs.append(Job(passage, JSON_TYPE, key, requests))
        return jobs
    for query_type in passage_types(passage, types, config, heldout=heldout):
        key = keys[query_type.name]
        if (key, passage.id, query_type.name) in done:
            continue
        examples = pick_examples(query_type, config.few_shot_count, config.seed, passage.id)
        messages = tuple(type_messages(passage, query_type, examples, config.passage_max_chars, config.few_shot_layout))
        requests = tuple(
            Request(messages, stable_seed(config.seed, passage.id, query_type.name, i))
            for i in range(config.count_for(query_type.name))
        )
        jobs.append(Job(passage, query_type.name, key, requests))
    return jobs


def passage_digest(passage: Passage) -> str:
    """Hash of what a prompt shows of a passage (title and text), 16 hex digits."""
    return hashlib.sha256(f"{passage.title}\0{passage.text}".encode("utf-8")).hexdigest()[:16]


def read_log(path: Path, keys: dict[str, str], digests: dict[str, str]) -> dict[tuple[str, str], dict]:
    """Records of the current keys written for the current text of their passage (`digests`:
    passage id -> `passage_digest`), by (passage id, type); the first record of a pair wins.
    Records without a text hash (older logs) never match, so their passages are regenerated."""
    wanted = {(key, name) for name, key in keys.items()}
    records: dict[tuple[str, str], dict] = {}
    for record in read_jsonl_log(path):
        if (record.get("key"), record.get("type")) not in wanted:
            continue
        passage_id = record["passage_id"]
        if digests.get(passage_id) is not None and record.get("passage_sha") == digests[passage_id]:
            records.setdefault((passage_id, record["type"]), record)
    return records


def sampling_for(config: GenerateConfig) -> Sampling:
    """The sampling settings of every call of a generation with `config`."""
    return Sampling(
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.json_max_new_tokens if config.json_mode else config.max_new_tokens,
        stop=() if config.json_mode else tuple(config.stop),
        json_output=config.json_mode,
    )


def run_generation(
    passages: list[Passage],
    config: GenerateConfig,
    out_dir: str | Path,
    *,
    backend: Backend | None = None,
    show_progress: bool = True,
) -> GenerationResult:
    """Generate the missing queries for the sampled passages and write `out_dir/queries/`.

    `backend` overrides the configured one (it is built lazily, only if work is left).
    """
    out_dir = Path(out_dir)
    layout = RunLayout(out_dir)
    types = configured_types(config)
    keys = type_keys(config, types)
    sample = sample_passages(
        passages,
        seed=config.seed,
        max_passages=config.max_passages,
        min_chars=config.min_passage_chars,
        heldout_count=config.heldout_count,
        heldout_max_fraction=config.heldout_max_fraction,
    )
    log_path = layout.generation_log
    layout.queries_dir.mkdir(parents=True, exist_ok=True)
    digests = {p.id: passage_digest(p) for p in sample.passages}
    records = read_log(log_path, keys, digests)
    done = {(keys[name], pid, name) for pid, name in records}
    heldout = sample.heldout_ids
    pending = [p for p in sample.passages if plan_jobs(p, types, keys, done, config, heldout=p.id in heldout)]
    calls = 0
    if pending:
        owned = backend is None
        backend = backend or make_backend(config.backend)
        try:
            calls = _generate(pending, types, keys, done, config, backend, log_path, show_progress, heldout)
        finally:
            if owned:
                backend.close()
        records = read_log(log_path, keys, digests)
    reused = len(sample.passages) - len(pending)
    # The outputs depend on the log's content only: how much of it this call wrote (`calls`,
    # `reused`) is reported, not written, so that a rebuild from the log changes no output.
    version = prompt_version(config.few_shot_layout, config.json_mode)
    stats = write_outputs(layout, sample, types, records, config, generator_name(config), version, JSON_TYPE)
    return GenerationResult(out_dir, stats, calls, reused)


def _generate(
    pending: list[Passage],
    types: list[QueryType],
    keys: dict[str, str],
    done: set,
    config: GenerateConfig,
    backend: Backend,
    log_path: Path,
    show_progress: bool,
    heldout: set[str],
) -> int:
    """Generate for `pending` (`heldout`: the held-out ones' ids) in batches of passages; each batch
    is appended to the log at once."""
    sampling = sampling_for(config)
    batch_size = config.batch_passages or backend.preferred_batch_passages
    started, tokens, calls = time.perf_counter(), 0, 0
    bar = tqdm(total=len(pending), unit="passage", desc="generate", disable=not show_progress)
    with bar, JsonlAppender(log_path) as log:
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            jobs = [j for p in batch for j in plan_jobs(p, types, keys, done, config, heldout=p.id in heldout)]
            completions = iter(backend.generate([r for job in jobs for r in job.requests], sampling))
            rows = []
            for job in jobs:
                outputs = [next(completions) for _ in job.requests]
                rows.append(
                    {
                        "key": job.key,
                        "passage_id": job.passage.id,
                        "passage_sha": passage_digest(job.passage),
                        "type": job.type_name,
                        "raw": [c.text for c in outputs],
                        "completion_tokens": sum(c.completion_tokens for c in outputs),
                        "prompt_tokens": sum(c.prompt_tokens for c in outputs),
                    }
                )
                tokens += rows[-1]["completion_tokens"]
                calls += len(job.requests)
            log.append_many(rows)
            bar.update(len(batch))
            seconds = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix_str(f"{tokens / seconds:.1f} tok/s")
    return calls
