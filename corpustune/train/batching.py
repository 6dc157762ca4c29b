"""Training examples from the run folder, the dev split, and steps that encode each passage once.

A step's queries share many passages on a small corpus (several query types per source passage,
the same hard negatives in many lists), so a step is planned as the list of its *distinct*
passages plus, per query, the rows of that list into it: encode P distinct passages, then gather
the (queries x list) score matrix. The encoder cuts a step's texts into length-sorted chunks
(`corpustune.chunking.length_chunks`) so that little compute goes to padding.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from corpustune.data.beir import Qrels, read_qrels, read_queries
from corpustune.data.lines import iter_jsonl
from corpustune.data.records import Passage, ScoredList
from corpustune.errors import InputError
from corpustune.layout import RunLayout


@dataclass(frozen=True, slots=True)
class Example:
    """One training query with its list: `passage_ids[0]` is the positive."""

    query_id: str
    query_text: str
    group: str  # the source passage: the unit of the dev split
    passage_ids: tuple[str, ...]
    teacher_scores: tuple[float, ...]


@dataclass
class LoadReport:
    lists: int = 0
    truncated: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        skipped = ", ".join(f"{n:,} {why}" for why, n in sorted(self.skipped.items())) or "none"
        return f"{self.lists:,} lists ({self.truncated:,} cut to the list size); skipped: {skipped}"


def load_scored_examples(run: Path, passages: dict[str, Passage], list_size: int) -> tuple[list[Example], LoadReport]:
    """Read the run's scored lists with the query texts of its queries.

    Every error names the file and line. Held-out passages (the held-out qrels) must not appear
    in any list: that would leak the held-out synthetic test set into training.
    """
    layout = RunLayout(run)
    scores_path, queries_path = layout.scores_file, layout.queries_file
    for path, stage in ((scores_path, "score"), (queries_path, "generate")):
        if not path.exists():
            raise InputError(f"{path} not found; run `corpustune {stage} --out {run}` first")
    queries = read_queries(queries_path)
    heldout_path = layout.heldout_qrels
    heldout = {p for judged in read_qrels(heldout_path).values() for p in judged} if heldout_path.exists() else set()
    report = LoadReport()
    examples: list[Example] = []
    for number, record in iter_jsonl(scores_path):
        where = f"{scores_path}: line {number}"
        try:
            scored = ScoredList.from_json(record)
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{where}: not a scored list ({error}); expected query_id, passage_ids, scores") from None
        if not scored.passage_ids:
            report.skipped["empty lists"] += 1
            continue
        query = queries.get(scored.query_id)
        if query is None:
            raise InputError(f"{where}: query {scored.query_id!r} is not in {queries_path}; re-run scoring")
        if scored.positive_id is not None and scored.passage_ids[0] != scored.positive_id:
            raise InputError(f"{where}: passage_ids[0] must be the positive {scored.positive_id!r}")
        missing = [p for p in scored.passage_ids if p not in passages]
        if missing:
            raise InputError(
                f"{where}: passage ids {missing[:3]} are not in the corpus; pass the corpus the lists were mined from"
            )
        leaked = [p for p in scored.passage_ids if p in heldout]
        if leaked:
            raise InputError(f"{where}: held-out passages {leaked[:3]} (from {heldout_path}) appear in a training list")
        report.lists += 1
        report.truncated += len(scored.passage_ids) > list_size
        examples.append(
            Example(
                query_id=query.id,
                query_text=query.text,
                group=query.source_id or scored.passage_ids[0],
                passage_ids=scored.passage_ids[:list_size],
                teacher_scores=scored.teacher_scores[:list_size],
            )
        )
    return examples, report


def qrels_examples(queries_path: Path, qrels_path: Path, passages: dict[str, Passage]) -> tuple[list[Example], LoadReport]:
    """Human (query, positive) pairs for the InfoNCE-only baseline: one example per relevant pair.

    The list is the positive followed by the query's other relevant passages, all with teacher
    score 1, so the masking rule keeps those other positives out of the query's negatives.
    """
    queries = read_queries(queries_path)
    qrels: Qrels = read_qrels(qrels_path)
    report = LoadReport()
    examples: list[Example] = []
    for query_id, judged in qrels.items():
        if query_id not in queries:
            raise InputError(f"{qrels_path}: query {query_id!r} has no text in {queries_path}")
        relevant = [p for p, grade in judged.items() if grade > 0]
        report.skipped["judged non-relevant pairs"] += len(judged) - len(relevant)
        unknown = [p for p in relevant if p not in passages]
        report.skipped["pairs whose passage is not in the corpus"] += len(unknown)
        relevant = [p for p in relevant if p in passages]
        for positive in relevant:
            others = tuple(p for p in relevant if p != positive)
            report.lists += 1
            examples.append(
                Example(query_id, queries[query_id].text, positive, (positive, *others), (1.0,) * (1 + len(others)))
            )
    return examples, report


def split_by_source(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, dev): the queries of a random `fraction` of source passages go to dev, all of them.

    Splitting by source passage keeps a passage's queries of different types on one side, so
    the dev loss measures generalization to unseen passages.
    """
    groups = sorted({e.group for e in examples})
    count = math.ceil(fraction * len(groups)) if fraction > 0 and len(groups) > 1 else 0
    order = np.random.default_rng(seed).permutation(len(groups))
    dev_groups = {groups[i] for i in order[:count]}
    train = [e for e in examples if e.group not in dev_groups]
    dev = [e for e in examples if e.group in dev_groups]
    return train, dev


def epoch_steps(num_examples: int, queries_per_step: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The example indices of each step of `epoch`: a permutation that depends only on (seed, epoch),
    so a resumed run replays the same order. The last step may be smaller."""
    order = np.random.default_rng([seed, epoch]).permutation(num_examples)
    return [order[i : i + queries_per_step] for i in range(0, num_examples, queries_per_step)]


@dataclass(frozen=True)
class StepBatch:
    """One optimizer step's data, with every distinct passage listed once."""

    query_texts: list[str]  # (Q,)
    passage_ids: list[str]  # (P,) distinct, in order of first appearance
    list_index: torch.Tensor  # (Q, L) int64 rows into passage_ids; padding slots point at the positive
    teacher_scores: torch.Tensor  # (Q, L) float32
    valid: torch.Tensor  # (Q, L) bool, False for padding of shorter lists
    positive_index: torch.Tensor  # (Q,) int64

    @property
    def num_queries(self) -> int:
        return len(self.query_texts)

    @property
    def passage_slots(self) -> int:
        return int(self.valid.sum())


def make_batch(examples: Sequence[Example]) -> StepBatch:
    """Plan a step: distinct passages and the (Q, L) gather index into them."""
    rows: dict[str, int] = {}
    width = max(len(e.passage_ids) for e in examples)
    list_index = torch.zeros(len(examples), width, dtype=torch.int64)
    teacher = torch.zeros(len(examples), width, dtype=torch.float32)
    valid = torch.zeros(len(examples), width, dtype=torch.bool)
    for q, example in enumerate(examples):
        for j, (passage_id, score) in enumerate(zip(example.passage_ids, example.teacher_scores)):
            list_index[q, j] = rows.setdefault(passage_id, len(rows))
            teacher[q, j] = score
            valid[q, j] = True
        list_index[q, len(example.passage_ids) :] = list_index[q, 0]
    return StepBatch(
        query_texts=[e.query_text for e in examples],
        passage_ids=list(rows),
        list_index=list_index,
        teacher_scores=teacher,
        valid=valid,
        positive_index=list_index[:, 0].clone(),
    )


def shard(count: int, rank: int, world_size: int) -> slice:
    """The contiguous share of `count` items that rank `rank` of `world_size` handles."""
    base, extra = divmod(count, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))
