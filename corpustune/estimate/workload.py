"""How much work each stage of a run has: passages, calls, queries, lists, pairs, steps.

Generation is counted exactly (the seeded sample, the run's generation log); later stages count
what the run folder holds when their upstream stage is up to date, else they expect the
upstream output from `priors`. Reads the run folder, writes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from corpustune.config import RunConfig
from corpustune.data.beir import read_qrels
from corpustune.data.records import Passage
from corpustune.estimate import priors
from corpustune.layout import RunLayout
from corpustune.pipeline.runner import StagePlan


@dataclass
class Workload:
    """The counts of a run; `measured` names the counts read from the run folder (the rest are
    expected from `priors`)."""

    passages: int
    sampled: int
    heldout_passages: int
    types: int
    calls: int
    calls_pending: int
    pending_passages: list[Passage]
    train_queries: float
    heldout_queries: float
    lists: float
    pairs: float
    kept_lists: float
    training_lists: float
    dev_lists: float
    steps_per_epoch: int
    epochs: int
    measured: set[str] = field(default_factory=set)

    @property
    def steps(self) -> int:
        """Optimizer steps of one arm (early stopping may end it sooner)."""
        return self.epochs * self.steps_per_epoch


def count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def workload(config: RunConfig, passages: list[Passage], run_dir: Path, plans: dict[str, StagePlan]) -> Workload:
    """Count the work of `config` on `passages` in `run_dir`, given what the pipeline would skip."""
    from corpustune.generate.runner import passage_digest, plan_jobs, read_log, type_keys
    from corpustune.generate.sampling import sample_passages
    from corpustune.generate.types import configured_types

    generate, layout, measured = config.generate, RunLayout(run_dir), set()
    sample = sample_passages(passages, seed=generate.seed, max_passages=generate.max_passages,
                             min_chars=generate.min_passage_chars, heldout_count=generate.heldout_count,
                             heldout_max_fraction=generate.heldout_max_fraction)
    types = configured_types(generate)
    keys = type_keys(generate, types)
    records = read_log(layout.generation_log, keys, {p.id: passage_digest(p) for p in sample.passages})
    done = {(keys[name], passage_id, name) for passage_id, name in records}
    calls = train_calls = pending = 0
    pending_passages = []
    for passage in sample.passages:
        heldout = passage.id in sample.heldout_ids
        every = sum(len(job.requests) for job in plan_jobs(passage, types, keys, set(), generate, heldout=heldout))
        left = sum(len(job.requests) for job in plan_jobs(passage, types, keys, done, generate, heldout=heldout))
        calls += every
        train_calls += 0 if heldout else every
        pending += left
        if left:
            pending_passages.append(passage)

    if plans["generate"].action == "skip":
        train_queries = float(len(read_qrels(layout.train_qrels)))
        heldout_queries = float(len(read_qrels(layout.heldout_qrels))) if layout.heldout_qrels.exists() else 0.0
        measured |= {"train_queries", "heldout_queries"}
    else:
        train_queries = train_calls * priors.KEPT_PER_CALL
        heldout_queries = (calls - train_calls) * priors.KEPT_PER_CALL
    mine = config.mine
    if plans["mine"].action == "skip":
        lists = float(count_lines(layout.candidates_file))
        measured.add("lists")
    else:
        lists = train_queries * (priors.RETRIEVER_FILTER_KEPT if mine.filter_top_n is not None else 1.0)
    score = config.score
    if plans["score"].action == "skip":
        kept = float(count_lines(layout.scores_file))
        measured.add("kept_lists")
    else:
        kept = lists * (priors.POSITIVE_FIRST_KEPT if score.require_positive_first else 1.0)
        kept *= 1.0 - (score.top_score_percentile or 0.0) / 100.0
    train = config.train
    training_lists = kept * (1.0 - train.dev_fraction)
    return Workload(
        passages=len(passages), sampled=len(sample.passages), heldout_passages=len(sample.heldout_ids),
        types=len(types), calls=calls, calls_pending=pending, pending_passages=pending_passages,
        train_queries=train_queries, heldout_queries=heldout_queries, lists=lists, pairs=lists * mine.list_size,
        kept_lists=kept, training_lists=training_lists, dev_lists=kept - training_lists,
        steps_per_epoch=max(1, math.ceil(round(training_lists) / train.queries_per_step)), epochs=train.epochs,
        measured=measured,
    )
