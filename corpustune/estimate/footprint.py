"""Peak memory and disk of a run, estimated before it runs, and whether they fit this machine.

Memory is the largest of the running stages' working sets (bytes):
- every stage holds the interpreter with torch and the other libraries (`RUNTIME_BYTES`) and the
  corpus as read (`CorpusMeasure.resident_bytes`: its Python objects);
- mine: per dense retriever its N x d float32 embedding matrix and its model, the BM25 index
  (`BM25_BYTES_PER_TERM` per distinct term of a passage, plus `TOKEN_SLOT_BYTES` per
  token while indexing), and one block of exact search scores (`SEARCH_BLOCK_QUERIES` x
  `SEARCH_BLOCK_PASSAGES` float32 at most);
- train (and each ablation arm): the student's weights, gradients and two AdamW moments (4 x its
  parameter bytes, fp32), activations left out (bounded by `train.chunk_tokens`);
- select and evaluate: two N x d matrices (the one being replaced and its successor), the base,
  tuned and interpolated students, and one block of search scores over the held-out queries.
Mine, select and evaluate also hold, while a corpus encoding runs, one block of the corpus
tokenized (`TOKENIZED_BYTES_PER_WORD` per word of `retrieve.encode.ROWS_PER_BLOCK` passages), and
exact search scores one block of at most `SEARCH_BLOCK_PASSAGES` passages at a time. Teacher models
are not counted.

Disk is what the run writes under its folder: one N x d float32 embedding-cache entry per corpus
encoding the cache does not hold yet, the saved BM25 index, candidate lists, teacher scores and the
score cache, the generation log and queries, and per trained arm its folder (checkpoint with
optimizer state, best and exported model) plus the published model. The bytes per record below
were measured on the SciFact run of 2026-12-04 (`benchmarks/ladder.py` R2, BM25 + MiniLM mining,
lists of 8, a BM25 + bge-small teacher).
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from corpustune.data.records import Passage

logger = logging.getLogger(__name__)

BM25_BYTES_PER_TERM = 8
"""bm25s keeps a sparse passage x term matrix: a float32 score and an int32 row index per entry."""
TOKEN_SLOT_BYTES = 8
"""While indexing, bm25s holds the corpus's token ids (one flat int32 array, `retrieve.bm25`) and
its build arrays per token."""
SEARCH_BLOCK_QUERIES = 1024
"""Queries per block of exact dense search (`corpustune.retrieve.dense.exact_top_k`)."""
SEARCH_BLOCK_PASSAGES = 65536
"""Passages per block of the same search."""
CANDIDATE_BYTES_PER_RETRIEVER = 1349346 / 7656 / 2
"""candidates.jsonl: 176 bytes per candidate with 2 retrievers (its ranks and scores per retriever)."""
SCORED_BYTES = 231802 / 5384
"""scores.jsonl: 43 bytes per scored passage of a kept list."""
SCORE_CACHE_BYTES = 1401522 / 15312
"""The score cache: 92 bytes per (teacher, query, passage) score."""
GENERATION_BYTES_PER_CALL = (426195 + 819891) / 2700
"""Generation log plus RUN/queries: 462 bytes per generated query (2,700 calls)."""
ARM_FOLDER_MODEL_MULTIPLE = 454763389 / 91592034
"""RUN/train/<arm>: 5.0 x the exported model (the newest checkpoint with optimizer state, the best
and the exported model)."""
TRAINING_STATE_MULTIPLE = 4
"""fp32 weights, gradients and AdamW's two moments."""
TOKENIZED_BYTES_PER_WORD = 450
"""The tokenizer's output per whitespace word (all its tokens with offsets, the truncated ones
included), for the block being encoded: fitted when encoding still tokenized the whole corpus at
once, when benchmarks/scale.py's mining child peaked 0.83 GB above this module's other items at
10,000 synthetic passages of 215 words (386 bytes a word) and 10.2 GB above at 100,000 (474),
2026-12-05 (docs/scale.md)."""
RUNTIME_BYTES = 700_000_000
"""Python with torch, transformers, sentence-transformers and bm25s loaded, and a small encoder:
benchmarks/scale.py's mining child peaked at 0.80 GB on 2,000 passages (2026-12-05), of which the
corpus, its embeddings, the BM25 index and the 47 MB encoder make about 0.1 GB."""
GIGABYTE = 1e9


@dataclass(frozen=True)
class CorpusMeasure:
    """The corpus's size: passages; bytes of its Python objects (ids, titles, texts, records);
    words and distinct lower-cased words per passage (mean over a sample: BM25's tokens and index
    terms; stemming and stopwords only lower them)."""

    passages: int
    resident_bytes: int
    words_per_passage: float
    distinct_words_per_passage: float


@dataclass(frozen=True)
class ModelSize:
    """An encoder's embedding dimension and the bytes of its parameters."""

    dimension: int
    parameter_bytes: int


@dataclass(frozen=True)
class Footprint:
    """The peak stage's memory items and the disk items, bytes each."""

    memory_stage: str
    memory: dict[str, int]
    disk: dict[str, int]

    @property
    def peak_memory(self) -> int:
        return sum(self.memory.values())

    @property
    def disk_total(self) -> int:
        return sum(self.disk.values())


def measure_corpus(passages: Iterable[Passage], sample: Sequence[Passage]) -> CorpusMeasure:
    """Stream over `passages` once, summing the sizes of their objects; count words on `sample`."""
    count = resident = 0
    for passage in passages:
        count += 1
        resident += (sys.getsizeof(passage) + sys.getsizeof(passage.id) + sys.getsizeof(passage.text)
                     + sys.getsizeof(passage.title))
    words = [passage.full_text().lower().split() for passage in sample]
    seen = max(1, len(words))
    return CorpusMeasure(count, resident, sum(map(len, words)) / seen, sum(len(set(w)) for w in words) / seen)


def model_size(model) -> ModelSize:
    """Dimension and parameter bytes of a loaded sentence-transformers model."""
    parameters = sum(p.numel() * p.element_size() for p in model.parameters())
    return ModelSize(int(model.get_embedding_dimension()), int(parameters))


def estimate_footprint(config, work, corpus: CorpusMeasure, models: Mapping[str, ModelSize], running: set[str],
                       encodings: Mapping[str, int]) -> Footprint:
    """The footprint of the stages in `running`. `models` maps `encoder_key`s to sizes (those
    missing count nothing); `encodings` maps an encoder key to the corpus encodings the run
    writes to the embedding cache with it (`corpus_encodings`)."""
    from corpustune.estimate.calibrate import encoder_key

    n = corpus.passages
    student = models.get(encoder_key(config.train.model, None, config.evaluate.precision))

    def matrix(size: ModelSize | None) -> int:
        return 0 if size is None else n * size.dimension * 4

    def params(size: ModelSize | None) -> int:
        return 0 if size is None else size.parameter_bytes

    terms = round(n * corpus.distinct_words_per_passage)
    bm25_index = terms * BM25_BYTES_PER_TERM
    from corpustune.retrieve.encode import ROWS_PER_BLOCK

    tokenized = round(min(n, ROWS_PER_BLOCK) * corpus.words_per_passage * TOKENIZED_BYTES_PER_WORD)
    scored = min(n, SEARCH_BLOCK_PASSAGES)
    stages: dict[str, dict[str, int]] = {}
    if "mine" in running:
        mine = config.mine
        items = {"runtime": RUNTIME_BYTES, "corpus": corpus.resident_bytes}
        for dense in mine.dense:
            size = models.get(encoder_key(dense.model, dense.max_seq_length, dense.precision))
            items[f"embeddings {dense.model}"] = items.get(f"embeddings {dense.model}", 0) + matrix(size)
            items["models"] = items.get("models", 0) + params(size)
        if mine.bm25:
            items["BM25 index"] = bm25_index + round(n * corpus.words_per_passage) * TOKEN_SLOT_BYTES
        if mine.dense:
            items["corpus tokenization"] = tokenized
            items["search block"] = min(SEARCH_BLOCK_QUERIES, max(1, round(work.train_queries))) * scored * 4
        stages["mine"] = items
    if running & {"train", "ablation"}:
        stages["train"] = {"runtime": RUNTIME_BYTES, "corpus": corpus.resident_bytes,
                           "student training state": TRAINING_STATE_MULTIPLE * params(student)}
    for stage in ("select", "evaluate"):
        if stage in running:
            stages[stage] = {"runtime": RUNTIME_BYTES, "corpus": corpus.resident_bytes,
                             "embeddings (2 models)": 2 * matrix(student), "models": 3 * params(student),
                             "corpus tokenization": tokenized,
                             "search block": min(SEARCH_BLOCK_QUERIES, max(1, round(work.heldout_queries))) * scored * 4}
    peak_stage = max(stages, key=lambda name: sum(stages[name].values()), default="none")
    disk = _disk(config, work, running, models, encodings, n, bm25_index)
    return Footprint(peak_stage, stages.get(peak_stage, {}), disk)


def _disk(config, work, running: set[str], models: Mapping[str, ModelSize], encodings: Mapping[str, int],
          n: int, bm25_index: int) -> dict[str, int]:
    from corpustune.estimate.calibrate import encoder_key
    from corpustune.train.arms import ablation_arms

    disk = {"embedding cache": sum(n * models[key].dimension * 4 * count
                                   for key, count in encodings.items() if key in models)}
    if "generate" in running:
        disk["generated queries"] = round(work.calls_pending * GENERATION_BYTES_PER_CALL)
    if "mine" in running:
        retrievers = int(config.mine.bm25) + len(config.mine.dense)
        disk["candidate lists"] = round(work.lists * config.mine.list_size * retrievers * CANDIDATE_BYTES_PER_RETRIEVER)
        if config.mine.bm25:
            disk["BM25 index"] = bm25_index
    if "score" in running:
        teachers = len(config.score.teachers)
        disk["teacher scores"] = round(work.kept_lists * config.mine.list_size * SCORED_BYTES
                                       + work.pairs * teachers * SCORE_CACHE_BYTES)
    student = models.get(encoder_key(config.train.model, None, config.evaluate.precision))
    if student is not None:
        arms = int("train" in running) + (len(ablation_arms(config.train.loss, config.ablation))
                                          if "ablation" in running else 0)
        disk["trained models"] = round(arms * ARM_FOLDER_MODEL_MULTIPLE * student.parameter_bytes
                                       + ("select" in running) * student.parameter_bytes)
    return {name: size for name, size in disk.items() if size}


def corpus_encodings(config, work, rates, running: set[str]) -> dict[str, int]:
    """Encoder key -> corpus encodings the run would write to the embedding cache: each mining
    model (once per passage prompt), the select stage's base model and one per other weight, one
    per ablation arm in evaluate; an encoding the cache already holds (`cached_prompts`) or an
    earlier stage of the run makes counts once."""
    from corpustune.estimate.calibrate import encoder_key
    from corpustune.estimate.timing import select_weights
    from corpustune.train.arms import ablation_arms

    counts: dict[str, int] = {}
    made: set[tuple[str, str]] = set()

    def add(key: str, prompt: str | None, times: int = 1) -> None:
        rate = rates.encoders.get(key)
        if rate is None or (prompt is not None and (prompt in rate.cached_prompts or (key, prompt) in made)):
            return
        if prompt is not None:
            made.add((key, prompt))
        counts[key] = counts.get(key, 0) + times

    if "mine" in running:
        for dense in config.mine.dense:
            add(encoder_key(dense.model, dense.max_seq_length, dense.precision), dense.passage_prompt)
    student = encoder_key(config.train.model, None, config.evaluate.precision)
    if "select" in running:
        add(student, config.train.passage_prompt)
        add(student, None, len(select_weights(config, work)) - 1)
    if "evaluate" in running:
        add(student, None, len(ablation_arms(config.train.loss, config.ablation)))
    return {key: count for key, count in counts.items() if count}


def available_memory() -> int | None:
    """Bytes of memory available to a new process: MemAvailable of /proc/meminfo, else psutil's
    `virtual_memory().available`, else None (unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def free_disk(path: Path) -> int:
    """Free bytes on the file system that holds `path` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def fit_warnings(footprint: Footprint, *, memory_limit: int | None, disk_limit: int | None, out: Path) -> list[str]:
    """One line per estimate above its limit (bytes; None: unknown, not checked), naming the
    largest items and what lowers them."""
    warnings = []
    if memory_limit is not None and footprint.peak_memory > memory_limit:
        warnings.append(
            f"the {footprint.memory_stage} stage needs about {footprint.peak_memory / GIGABYTE:.1f} GB of memory "
            f"({_largest(footprint.memory)}) but {memory_limit / GIGABYTE:.1f} GB is available: sample fewer "
            f"passages into the corpus, use fewer or smaller dense models, or run on a larger machine")
    if disk_limit is not None and footprint.disk_total > disk_limit:
        warnings.append(
            f"the run writes about {footprint.disk_total / GIGABYTE:.1f} GB under {out} ({_largest(footprint.disk)}) "
            f"but {disk_limit / GIGABYTE:.1f} GB is free there: free space, or put --out on a larger disk")
    return warnings


def describe(items: Mapping[str, int]) -> str:
    """`name 1.2 GB, name 0.3 GB`, largest first."""
    return ", ".join(f"{name} {size / GIGABYTE:.2f} GB" for name, size in
                     sorted(items.items(), key=lambda item: -item[1]))


def _largest(items: Mapping[str, int]) -> str:
    return describe(dict(sorted(items.items(), key=lambda item: -item[1])[:2]))


def limits_here(out: Path) -> tuple[int | None, int]:
    """(available memory, free disk at `out`) of this machine, bytes."""
    memory = available_memory()
    if memory is None:
        logger.info("available memory unknown (no /proc/meminfo, no psutil): the memory estimate is not checked")
    return memory, free_disk(out)

