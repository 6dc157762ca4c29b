"""Small training data built in code for the training tests (words of the tiny model's vocabulary)."""

from __future__ import annotations

import pytest
import torch

from corpustune.data.records import Passage
from corpustune.train.batching import Example
from tests.conftest import TINY_PASSAGES

QUERIES = [
    ("q1", "what lowers the risk of heart attack", "d1"),
    ("q2", "aspirin heart adults", "d1"),
    ("q3", "does running improve mood", "d2"),
    ("q4", "lung capacity running", "d2"),
    ("q5", "vitamin d deficiency in winters", "d3"),
    ("q6", "why is vitamin d low in northern winters", "d3"),
    ("q7", "how does sleep help memory", "d4"),
    ("q8", "coffee and liver disease", "d5"),
    ("q9", "can antibiotics cure the flu", "d6"),
    ("q10", "viral infections antibiotics", "d6"),
]


def tiny_examples(list_size: int = 4) -> list[Example]:
    """One list per query: its source passage first, then the others in a fixed rotation, with
    teacher scores that fall along the list and sometimes rate a negative near the top."""
    ids = [p.id for p in TINY_PASSAGES]
    examples = []
    for n, (qid, text, source) in enumerate(QUERIES):
        others = [d for d in ids if d != source]
        others = others[n % len(others) :] + others[: n % len(others)]
        passage_ids = (source, *others[: list_size - 1])
        scores = tuple([1.0] + [round(0.9 / (j + 1 + n % 3), 3) for j in range(list_size - 1)])
        examples.append(Example(qid, text, source, passage_ids, scores))
    return examples


def tiny_passage_map() -> dict[str, Passage]:
    return {p.id: p for p in TINY_PASSAGES}


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread; two threads on a busy shared CPU thrash."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def three_heads() -> torch.nn.ModuleDict:
    """Three linear heads: `shared` is used by every rank, `first_rank_only` by rank 0, `unused` by none."""
    torch.manual_seed(0)
    return torch.nn.ModuleDict({name: torch.nn.Linear(3, 2) for name in ("shared", "first_rank_only", "unused")})


def head_loss(model: torch.nn.ModuleDict, rank: int) -> torch.Tensor:
    """Rank `rank`'s share of the loss; the single-process loss is the sum over ranks."""
    x = torch.full((1, 3), rank + 1.0)  # (1, 3): different data per rank
    loss = model["shared"](x).sum()
    if rank == 0:
        loss = loss + model["first_rank_only"](x).sum()
    return loss
