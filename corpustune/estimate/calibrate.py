"""A short calibration on this machine: a few generations, a few encodings, one training step.

Every rate is measured with the run's own settings and code paths (its backend, encoders,
teachers and trainer) on a few of the corpus's passages, after loading the model (timed apart:
a stage pays it once). Nothing is written to the run folder: the generations are not logged and
the training step runs in a temporary folder. Rates are per unit of work that `workload` counts:
seconds per generation call, per encoded token, per teacher pair, per training list.
"""

from __future__ import annotations

import contextlib
import io
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpustune.config import RunConfig
from corpustune.data.records import Passage
from corpustune.estimate.footprint import ModelSize, model_size
from corpustune.estimate.workload import Workload
from corpustune.hardware import Precision, use_bf16

SAMPLE_PASSAGES = 32
"""Passages encoded to time an encoder (and BM25 indexing)."""
TEACHER_QUERIES = 4
"""Lists scored to time a teacher (each of the run's list size), after one list to warm it up."""
STEP_LISTS = 4
"""Lists of the calibration training step (at most the run's queries per step); the second of two
such steps is timed (the first pays one-time costs: kernels, optimizer state)."""
CORPUS_TOKEN_SAMPLE = 5000
"""Passages whose tokens are counted to size a corpus encoding (all of a smaller corpus)."""


@dataclass
class EncoderRate:
    """One sentence-transformers model: load time, seconds per token, the corpus in tokens (after
    truncation), its size (dimension, parameter bytes) and the passage prompts whose corpus
    embeddings the embedding cache holds."""

    load_s: float
    s_per_token: float
    corpus_tokens: float
    size: ModelSize | None = None
    cached_prompts: set[str] = field(default_factory=set)


@dataclass
class TeacherRate:
    load_s: float
    s_per_pair: float
    cached_pairs: int = 0


@dataclass
class Rates:
    """What the calibration measured; `seconds` is its own wall time."""

    generate_load_s: float = 0.0
    generate_s_per_call: float = 0.0
    generate_calls: int = 0
    encoders: dict[str, EncoderRate] = field(default_factory=dict)
    teachers: list[TeacherRate] = field(default_factory=list)
    bm25_s_per_passage: float = 0.0
    train_load_s: float = 0.0
    train_s_per_list: float = 0.0
    seconds: float = 0.0


def calibrate(config: RunConfig, passages: list[Passage], work: Workload, running: set[str],
              run_dir: Path) -> Rates:
    """Measure the rates of the stages named in `running` (those the pipeline would run). When the
    run folder's candidate lists are final (mine is not in `running`), count the teacher pairs
    that the score cache already holds. Holds no copy of the corpus: what it reads of every passage
    (cache keys, the run's teacher pairs) it streams."""
    started = time.perf_counter()
    rates = Rates()
    sample = random.Random(config.generate.seed).sample(passages, min(SAMPLE_PASSAGES, len(passages)))
    if "generate" in running and work.pending_passages:
        _generation(config, work.pending_passages, rates)
    models = []
    if "mine" in running:
        models += [(d.model, d.max_seq_length, d.precision, d.passage_prompt, d.trust_remote_code)
                   for d in config.mine.dense]
        if config.mine.bm25:
            rates.bm25_s_per_passage = _bm25(sample, config.mine.bm25_language)
    if running & {"select", "evaluate", "ablation", "train"}:
        train = config.train
        models.append((train.model, None, config.evaluate.precision, train.passage_prompt, train.trust_remote_code))
    loaded = {}
    for name, max_length, precision, prompt, trust in models:
        key = encoder_key(name, max_length, precision)
        if key not in rates.encoders:
            rates.encoders[key], loaded[key] = _encoder(name, max_length, precision, trust, passages, sample)
        model, bf16 = loaded[key]
        if _corpus_cached(model, passages, prompt, bf16):
            rates.encoders[key].cached_prompts.add(prompt)
    loaded.clear()
    # the select stage's teachers grade the held-out queries (select.judge: teacher)
    if "score" in running or ("select" in running and config.select.judge == "teacher"):
        pairs = None if "mine" in running or not _has_lists(run_dir) else (lambda: _run_pairs(run_dir, passages))
        rates.teachers = [_teacher(spec, sample, config.mine.list_size, run_dir, pairs)
                          for spec in config.score.teachers]
    if running & {"train", "ablation"}:
        with contextlib.redirect_stdout(io.StringIO()):  # the trainer prints its teacher temperature
            _training_step(config, sample, rates)
    rates.seconds = time.perf_counter() - started
    return rates


def encoder_key(model: str, max_length: int | None, precision: str) -> str:
    """Names one way of encoding: model, length limit and precision setting."""
    return f"{model}@{max_length or 'default'}:{precision}"


def _generation(config: RunConfig, pending: Sequence[Passage], rates: Rates) -> None:
    """Every call of one pending passage of median length (the first 16 pending ones considered)."""
    from corpustune.generate.backends import make_backend
    from corpustune.generate.runner import plan_jobs, sampling_for, type_keys
    from corpustune.generate.types import configured_types

    generate = config.generate
    candidates = sorted(pending[:16], key=lambda p: len(p.full_text()))
    passage = candidates[len(candidates) // 2]
    types = configured_types(generate)
    requests = [r for job in plan_jobs(passage, types, type_keys(generate, types), set(), generate, heldout=False)
                for r in job.requests]
    begin = time.perf_counter()
    backend = make_backend(generate.backend)
    try:
        rates.generate_load_s = time.perf_counter() - begin
        begin = time.perf_counter()
        backend.generate(requests, sampling_for(generate))
        rates.generate_s_per_call = (time.perf_counter() - begin) / max(1, len(requests))
        rates.generate_calls = len(requests)
    finally:
        backend.close()


def _encoder(name: str, max_length: int | None, precision: Precision, trust: bool, passages: Sequence[Passage],
             sample: Sequence[Passage]) -> tuple[EncoderRate, tuple[object, bool]]:
    """The encoder's rates at `precision`, and (for the cache checks) the loaded model and whether
    it encodes in bf16."""
    from corpustune.retrieve.encode import encode, load_encoder, token_lengths

    begin = time.perf_counter()
    model = load_encoder(name, device=None, max_seq_length=max_length, trust_remote_code=trust)
    load = time.perf_counter() - begin
    bf16 = use_bf16(precision, model.device)
    texts = [p.full_text() for p in sample]
    encode(model, texts[:2], bf16=bf16)  # warm-up: first-call allocations (and bf16 kernels)
    begin = time.perf_counter()
    encode(model, texts, bf16=bf16)
    seconds = time.perf_counter() - begin
    counted = passages
    if len(passages) > CORPUS_TOKEN_SAMPLE:
        counted = random.Random(0).sample(passages, CORPUS_TOKEN_SAMPLE)
    corpus_tokens = token_lengths(model, [p.full_text() for p in counted]).mean() * len(passages)
    rate = seconds / max(1, int(token_lengths(model, texts).sum()))
    return EncoderRate(load, rate, float(corpus_tokens), model_size(model)), (model, bf16)


def _corpus_cached(model, passages: Sequence[Passage], prompt: str, bf16: bool) -> bool:
    """Whether the embedding cache already holds the corpus encoded by `model` with `prompt`, intact
    (a damaged entry would be encoded again; a dry run leaves it where it is)."""
    from corpustune.data.sealed import file_problem
    from corpustune.retrieve.encode import EmbeddingCache

    # the key hashes the texts one by one: a generator, not a second copy of the corpus
    path = EmbeddingCache().path(model, (p.full_text() for p in passages), prompt=prompt, bf16=bf16)
    return path.exists() and file_problem(path, (len(passages), model.get_embedding_dimension())) is None


def _bm25(sample: Sequence[Passage], language: str | None) -> float:
    from corpustune.retrieve.bm25 import BM25Index

    begin = time.perf_counter()
    BM25Index(list(sample), language=language)
    return (time.perf_counter() - begin) / max(1, len(sample))


def _has_lists(run_dir: Path) -> bool:
    """Whether the run folder holds candidate lists and their queries."""
    from corpustune.layout import RunLayout

    layout = RunLayout(run_dir)
    return layout.candidates_file.exists() and layout.queries_file.exists()


def _run_pairs(run_dir: Path, passages: Sequence[Passage]) -> Iterator[tuple[str, str]]:
    """(query text, passage text) of every list the score stage would score, one pair at a time."""
    from corpustune.data.beir import read_queries
    from corpustune.layout import RunLayout
    from corpustune.teach.stage import list_passage_ids, read_candidates

    layout = RunLayout(run_dir)
    queries, by_id = read_queries(layout.queries_file), {p.id: p for p in passages}
    for candidates in read_candidates(layout.candidates_file):
        if candidates.query_id in queries:
            query = queries[candidates.query_id].text
            yield from ((query, by_id[p].full_text()) for p in list_passage_ids(candidates) if p in by_id)


def _teacher(spec, sample: Sequence[Passage], list_size: int, run_dir: Path,
             run_pairs: Callable[[], Iterator[tuple[str, str]]] | None) -> TeacherRate:
    """Score `TEACHER_QUERIES` lists of distinct sample passages (the query: a passage's opening
    words); count the run's pairs already in its score cache (BM25's id names the corpus it was
    built on, here the sample, so its cached pairs are not counted: it is cheap anyway)."""
    from corpustune.layout import RunLayout
    from corpustune.teach.cache import ScoreCache, pair_key
    from corpustune.teach.factory import build_teacher

    begin = time.perf_counter()
    teacher = build_teacher(spec, sample)
    load = time.perf_counter() - begin
    pairs = []
    for index in range(TEACHER_QUERIES + 1):
        query = " ".join(sample[index % len(sample)].text.split()[:10])
        pairs += [(query, sample[(index * list_size + j) % len(sample)].full_text()) for j in range(list_size)]
    teacher.score(pairs[:list_size])  # warm-up: one list (bf16 kernels are compiled per shape on first use)
    begin = time.perf_counter()
    teacher.score(pairs[list_size:])
    rate = TeacherRate(load, (time.perf_counter() - begin) / (len(pairs) - list_size))
    if run_pairs and spec.kind != "bm25":
        cached = ScoreCache(RunLayout(run_dir).score_cache).load(repair=False)
        rate.cached_pairs = sum(pair_key(teacher.id, q, p) in cached for q, p in run_pairs())
    return rate


def _training_step(config: RunConfig, sample: Sequence[Passage], rates: Rates) -> None:
    """One real optimizer step of the run's student on `STEP_LISTS` lists of distinct passages."""
    from corpustune.train.batching import Example
    from corpustune.train.trainer import Trainer

    train = config.train
    size, count = train.list_size, min(STEP_LISTS, train.queries_per_step)
    examples = []
    for index in range(count):
        ids = tuple(sample[(index * size + j) % len(sample)].id for j in range(size))
        query = " ".join(sample[index % len(sample)].text.split()[:10])
        examples.append(Example(f"calibration-{index}", query, ids[0], ids,
                                tuple(float(x) for x in np.linspace(1.0, 0.0, size))))
    with tempfile.TemporaryDirectory(prefix="corpustune-calibration-") as folder:
        begin = time.perf_counter()
        trainer = Trainer(train, examples, [], {p.id: p for p in sample}, Path(folder), show_progress=False)
        trainer.step(examples)
        rates.train_load_s = time.perf_counter() - begin
        begin = time.perf_counter()
        trainer.step(examples)
        rates.train_s_per_list = (time.perf_counter() - begin) / count
