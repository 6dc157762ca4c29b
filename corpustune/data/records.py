"""Typed, immutable records passed between the pipeline stages.

Each record converts to and from a plain JSON object (`to_json` / `from_json`) so that the
run folder holds one JSONL line per record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrievable unit of the collection."""

    id: str
    text: str
    title: str = ""

    def full_text(self, separator: str = " ") -> str:
        """Title and text joined the way BEIR and MTEB encode documents."""
        return f"{self.title}{separator}{self.text}" if self.title else self.text

    def to_json(self) -> dict[str, Any]:
        return {"_id": self.id, "title": self.title, "text": self.text}


@dataclass(frozen=True, slots=True)
class Query:
    """A search query; synthetic ones name the passage they were written for."""

    id: str
    text: str
    type: str = "human"
    source_id: str | None = None
    generator: str = ""
    prompt_version: str = ""

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"_id": self.id, "text": self.text, "type": self.type}
        if self.source_id is not None:
            record["source_id"] = self.source_id
        if self.generator:
            record["generator"] = self.generator
        if self.prompt_version:
            record["prompt_version"] = self.prompt_version
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Query:
        return cls(
            id=str(record["_id"]),
            text=str(record["text"]),
            type=str(record.get("type", "human")),
            source_id=None if record.get("source_id") is None else str(record["source_id"]),
            generator=str(record.get("generator", "")),
            prompt_version=str(record.get("prompt_version", "")),
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One mined passage for a query: its rank and score under each retriever (rank 1 = best)."""

    passage_id: str
    fused_score: float
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.passage_id, "fused": self.fused_score, "ranks": self.ranks, "scores": self.scores}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Candidate:
        return cls(
            passage_id=str(record["id"]),
            fused_score=float(record["fused"]),
            ranks={k: int(v) for k, v in record.get("ranks", {}).items()},
            scores={k: float(v) for k, v in record.get("scores", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class CandidateList:
    """The mined, fused candidates of one query, best first; `positive_id` is its source passage."""

    query_id: str
    positive_id: str | None
    candidates: tuple[Candidate, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "positive_id": self.positive_id,
            "candidates": [c.to_json() for c in self.candidates],
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> CandidateList:
        positive = record.get("positive_id")
        return cls(
            query_id=str(record["query_id"]),
            positive_id=None if positive is None else str(positive),
            candidates=tuple(Candidate.from_json(c) for c in record["candidates"]),
        )


@dataclass(frozen=True, slots=True)
class ScoredList:
    """A training list: passage ids with their teacher scores (normalized to [0, 1] after filtering).

    `passage_ids[0]` is the positive (the query's source passage) when `positive_id` is set.
    """

    query_id: str
    positive_id: str | None
    passage_ids: tuple[str, ...]
    teacher_scores: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.passage_ids) != len(self.teacher_scores):
            raise ValueError(
                f"scored list of query {self.query_id!r}: {len(self.passage_ids)} passages but "
                f"{len(self.teacher_scores)} scores"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "positive_id": self.positive_id,
            "passage_ids": list(self.passage_ids),
            "scores": list(self.teacher_scores),
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ScoredList:
        positive = record.get("positive_id")
        return cls(
            query_id=str(record["query_id"]),
            positive_id=None if positive is None else str(positive),
            passage_ids=tuple(str(p) for p in record["passage_ids"]),
            teacher_scores=tuple(float(s) for s in record["scores"]),
        )
