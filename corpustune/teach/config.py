"""Settings of the scoring stage; defaults follow the paper unless noted."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corpustune.hardware import Precision


class TeacherSpec(BaseModel):
    """One teacher. `kind`: cross-encoder, llm, biencoder or bm25; `model`: alias, path or hub id."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    kind: Literal["cross-encoder", "llm", "biencoder", "bm25"]
    model: str | None = None
    weight: float = 1.0
    """Weight in an ensemble (ignored for a single teacher)."""
    max_length: int = 512
    """Cross-encoder / bi-encoder token limit (the paper: 512)."""
    tokens_per_batch: int | None = None
    """Cross-encoder / bi-encoder: batch size x padded length (None: 2,048 on CPU, 32,768 on GPU;
    1, one text per run, for an ONNX graph that quantizes activations per batch, e.g. the packaged
    int8 models, whose outputs would otherwise depend on the batch)."""
    precision: Precision = "auto"
    """Cross-encoder / bi-encoder on torch: auto = bf16 where the hardware computes it natively
    (CUDA GPUs with bf16, CPUs with avx512_bf16 / amx_bf16), fp32 elsewhere. An ONNX model computes
    in the precision it was saved in (int8 or fp32): leave auto."""
    llm_layout: Literal["passage_first", "query_first"] = "passage_first"
    llm_backend: Literal["auto", "llamacpp", "transformers"] = "auto"
    max_passage_words: int = 150
    """LLM prompts: passages are cut to this many words."""
    n_ctx: int = 2048
    query_prompt: str | None = None
    """Bi-encoder: text put before each query; None: the packaged alias's own (bge-small: its
    retrieval instruction), else none."""
    passage_prompt: str = ""
    pooling: Literal["cls", "mean", "lasttoken"] | None = None
    """ONNX bi-encoder whose graph gives token vectors: how to pool them; None: the alias's, else
    the folder's sentence-transformers `1_Pooling/config.json`."""
    bm25_language: str | None = "english"
    trust_remote_code: bool = False


DEFAULT_MODELS = {"cross-encoder": None, "llm": "qwen-coder-1.5b", "biencoder": "mpnet", "bm25": None}

# The default without a preset: BM25 and the packaged mpnet fused by per-list z-scores, which needs
# only sentence-transformers. The laptop preset names BM25 + the int8 ONNX bge-small instead, ahead
# of it on both decision sets at a fifth of its cost (docs/ladder.md, R0).
DEFAULT_TEACHERS = [TeacherSpec(kind="bm25"), TeacherSpec(kind="biencoder", model="mpnet")]


class ScoreConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    teachers: list[TeacherSpec] = Field(default_factory=lambda: list(DEFAULT_TEACHERS))
    """One teacher, or several combined as an ensemble."""
    ensemble_normalization: Literal["zscore", "minmax"] = "zscore"
    """How each teacher's scores are normalized within a list before the weighted sum."""
    require_positive_first: bool = True
    """Keep a query only if the teacher ranks its source passage first."""
    top_score_percentile: float | None = 25.0
    """Drop queries whose top score is below this percentile of all top scores (None: off)."""
    normalize_lower_percentile: float = 1.0
    normalize_upper_percentile: float = 99.0
    chunk_size: int = 256
    """Pairs handed to the teacher at once (and the unit of work of one rank)."""

    @field_validator("teachers")
    @classmethod
    def _some_teacher(cls, teachers: list[TeacherSpec]) -> list[TeacherSpec]:
        if not teachers:
            raise ValueError("no teacher: name at least one, e.g. [{kind: bm25}] (`corpustune score --teacher bm25`)")
        return teachers
