"""Settings of the mining stage; defaults follow the paper (top-100 per retriever, RRF k = 60,
retriever filter top-20, lists of 20)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corpustune.retrieve.search import DenseSettings


class MineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    bm25: bool = True
    """Use BM25 as one of the retrievers."""
    bm25_language: str | None = "english"
    dense: list[DenseSettings] = Field(default_factory=lambda: [DenseSettings(search="auto")])
    """Dense retrievers (default: the base student, the packaged MiniLM). Mining searches with
    `search: auto` unless a retriever names another: exactly up to `hnsw.exact_up_to` passages
    (1,000,000), through an HNSW graph above."""
    depth: int = Field(100, ge=1)
    """Passages each retriever returns per query."""
    rrf_k: float = 60.0
    filter_top_n: int | None = 20
    """Keep a query only if its source passage is in some retriever's top N (None: keep all)."""
    list_size: int = Field(20, ge=2)
    """Passages per list: the source passage plus list_size - 1 candidates."""

    @field_validator("dense", mode="after")
    @classmethod
    def _auto_search(cls, dense: list[DenseSettings]) -> list[DenseSettings]:
        # DenseSettings searches exactly by default, as evaluation must; mining's lists may come
        # from an approximate search, so a retriever that names no search gets auto here
        return [d if "search" in d.model_fields_set else d.model_copy(update={"search": "auto"}) for d in dense]
