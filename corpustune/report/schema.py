"""`ReportData`: everything the run report shows, as plain validated data (JSON in, HTML/MD out).

Metric values are fractions in [0, 1] (ir-measures output); the report prints them x100.
Arm names: "base" (the untuned student), "tuned" (the trained student), "published" (what the
select stage published as RUN/model), optionally the ablation arms "infonce", "listwise",
"combined"; other names are allowed and listed after them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from corpustune.errors import InputError

ARM_ORDER = ("base", "tuned", "published", "infonce", "listwise", "combined")
ARM_LABELS = {"base": "base", "tuned": "tuned", "published": "published", "infonce": "InfoNCE only",
              "listwise": "listwise only", "combined": "listwise + InfoNCE"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PairedValue(_Frozen):
    """Mean and standard error of a per-query difference (fractions), over n queries."""

    mean: float
    se: float = Field(ge=0)
    n: int = Field(ge=1)


class EvalSet(_Frozen):
    """One evaluation: a query set scored for every arm. `results[arm][measure]` in [0, 1]."""

    name: str  # e.g. "scifact test" or "held-out synthetic"
    source: Literal["human", "synthetic"]
    query_type: str | None = None  # synthetic query type; None = all types / human queries
    num_queries: int = Field(ge=0)
    results: dict[str, dict[str, float]]
    role: str | None = None  # test, dev (human) or heldout (synthetic)
    paired: dict[str, dict[str, PairedValue]] = {}  # arm -> measure -> arm minus base, per query

    @field_validator("results")
    @classmethod
    def _check_results(cls, results: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        if "base" not in results:
            raise ValueError("results must include the 'base' arm (the untuned model)")
        for arm, measures in results.items():
            for measure, value in measures.items():
                if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                    raise ValueError(f"{arm} {measure} = {value}: metric values must be fractions in [0, 1]")
        return results

    @property
    def label(self) -> str:
        return self.name if self.query_type is None else f"{self.name}: {self.query_type}"


class TrainPoint(_Frozen):
    step: int = Field(ge=0)  # optimizer step
    train_loss: float


class DevPoint(_Frozen):
    """Dev loss after an epoch or at a step (at least one of the two)."""

    dev_loss: float
    epoch: float | None = None
    step: int | None = None

    @model_validator(mode="after")
    def _needs_position(self) -> DevPoint:
        if self.epoch is None and self.step is None:
            raise ValueError("a dev loss point needs an epoch or a step")
        return self


class TrainingCurves(_Frozen):
    arm: str = "tuned"
    train: list[TrainPoint] = []
    dev: list[DevPoint] = []
    best: str | None = None  # e.g. "epoch 4 (early stopping, patience 2)"


class FilterCount(_Frozen):
    """Queries (or lists) one filter kept and dropped in one stage, optionally per query type."""

    stage: str  # "generate", "mine", "score", ...
    filter: str  # e.g. "empty or too short", "source passage not in top-20", "teacher not top-1"
    kept: int = Field(ge=0)
    dropped: int = Field(ge=0)
    query_type: str | None = None


class QueryExample(_Frozen):
    type: str
    text: str
    passage_title: str = ""
    passage_id: str | None = None


class StageTiming(_Frozen):
    stage: str
    seconds: float = Field(ge=0)
    status: str = "done"  # done / skipped (then seconds is the time it took when computed)


class ModelInfo(_Frozen):
    path: str  # the sentence-transformers folder, e.g. "runs/scifact/model"
    base_model: str = ""
    query_prompt: str | None = None  # prefix the student expects on queries, if any

    def load_snippet(self) -> str:
        lines = ["from sentence_transformers import SentenceTransformer",
                 f"model = SentenceTransformer({json.dumps(self.path)})"]
        if self.query_prompt:
            lines.append(f"query_embeddings = model.encode(queries, prompt={json.dumps(self.query_prompt)})")
        else:
            lines.append("query_embeddings = model.encode(queries)")
        lines.append("passage_embeddings = model.encode(passages)")
        return "\n".join(lines)


class InterpolationCurve(_Frozen):
    """One query set's measure at each interpolation weight a ((1 - a) * base + a * tuned)."""

    name: str
    deciding: bool = False
    points: list[tuple[float, float]]  # (a, value in [0, 1])


class Publication(_Frozen):
    """What the select stage published and why."""

    weight: float = Field(ge=0, le=1)
    verdict: str
    measure: str
    curves: list[InterpolationCurve] = []
    index_unchanged: bool = False  # documents encode as with the base model: no re-embedding


class ReportData(_Frozen):
    """Input of `write_report`; build it from the stages' outputs (see corpustune.report)."""

    dataset: str
    title: str = "corpustune run report"
    settings: dict[str, str] = {}  # key settings shown verbatim, e.g. {"student": "minilm"}
    evaluations: list[EvalSet] = []
    training: list[TrainingCurves] = []
    filters: list[FilterCount] = []
    examples: list[QueryExample] = []
    timings: list[StageTiming] = []
    model: ModelInfo | None = None
    publication: Publication | None = None
    notes: list[str] = []

    def arms(self) -> list[str]:
        """Arms present in any evaluation: the known ones in ARM_ORDER, then others sorted."""
        present = {arm for evaluation in self.evaluations for arm in evaluation.results}
        known = [arm for arm in ARM_ORDER if arm in present]
        return known + sorted(present - set(ARM_ORDER))

    def measures(self) -> list[str]:
        """Measures in first-seen order (e.g. nDCG@10, R@100)."""
        seen: dict[str, None] = {}
        for evaluation in self.evaluations:
            for measures in evaluation.results.values():
                seen.update(dict.fromkeys(measures))
        return list(seen)


def load_report_data(path: str | os.PathLike) -> ReportData:
    """Read a ReportData JSON file; errors name the file and the bad field."""
    path = Path(path)
    try:
        return ReportData.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError(f"{path}: not a valid report data file: {error}") from error
