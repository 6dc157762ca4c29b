"""Gather a run folder's artifacts into `ReportData`: evaluations, curves, filters, examples, timings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from corpustune.data.atomic import read_jsonl_log
from corpustune.evaluate.subcorpus import corpus_sentence
from corpustune.layout import RunLayout
from corpustune.pipeline.runner import read_timings
from corpustune.report.schema import (
    DevPoint,
    EvalSet,
    FilterCount,
    InterpolationCurve,
    ModelInfo,
    Publication,
    QueryExample,
    ReportData,
    StageTiming,
    TrainingCurves,
    TrainPoint,
)

EXAMPLES_PER_TYPE = 3


def stage_timings(run_dir: str | os.PathLike) -> list[StageTiming]:
    """Per-stage times from `RUN/timings.json`: for a skipped stage, the time it took when it was
    computed (from its DONE record); for a failed one, the time until it failed."""
    timings = []
    for entry in read_timings(run_dir)["stages"]:
        seconds = entry.get("computed_seconds", entry["seconds"])
        timings.append(StageTiming(stage=entry["stage"], seconds=seconds, status=entry["status"]))
    return timings


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _filters(run_dir: Path) -> list[FilterCount]:
    counts = []
    layout = RunLayout(run_dir)
    generation = _json(layout.query_stats)
    for query_type, stats in generation.get("types", {}).items():
        remaining = stats["generated"]
        for reason, dropped in stats.get("dropped", {}).items():
            remaining -= dropped
            counts.append(FilterCount(stage="generate", filter=reason, kept=remaining, dropped=dropped, query_type=query_type))
    mining = _json(layout.candidates_stats)
    if mining:
        remaining = mining["queries"]
        for key in ("dropped_no_source", "dropped_source_heldout", "dropped_source_unknown", "dropped_retriever_filter"):
            if mining.get(key):
                remaining -= mining[key]
                counts.append(FilterCount(stage="mine", filter=key.removeprefix("dropped_").replace("_", " "),
                                          kept=remaining, dropped=mining[key]))
    scoring = _json(layout.scores_stats)
    if scoring:
        remaining = scoring["lists"]
        for key in ("removed_positive_not_first", "removed_low_top_score"):
            if key in scoring:
                remaining -= scoring[key]
                counts.append(FilterCount(stage="score", filter=key.removeprefix("removed_").replace("_", " "),
                                          kept=remaining, dropped=scoring[key]))
    return counts


def _training(run_dir: Path, config) -> list[TrainingCurves]:
    from corpustune.train.arms import ablation_arms

    curves = []
    for arm in [config.train.loss] + ablation_arms(config.train.loss, config.ablation):
        log = RunLayout(run_dir).arm_dirs(arm, arm == config.train.loss)[0] / "log.jsonl"
        train, dev = [], []
        for record in read_jsonl_log(log):
            if "dev_loss" in record:
                dev.append(DevPoint(dev_loss=record["dev_loss"], epoch=record.get("epoch"), step=record.get("step")))
            elif "loss" in record:
                train.append(TrainPoint(step=record["step"], train_loss=record["loss"]))
        best = min(dev, key=lambda point: point.dev_loss) if dev else None
        curves.append(TrainingCurves(
            arm="tuned" if arm == config.train.loss else arm, train=train, dev=dev,
            best=None if best is None else f"step {best.step} (lowest dev loss)",
        ))
    return curves


def _examples(run_dir: Path, passages: dict[str, Any]) -> list[QueryExample]:
    shown: dict[str, int] = {}
    examples = []
    for record in read_jsonl_log(RunLayout(run_dir).queries_file):
        query_type = record.get("type", "")
        if shown.get(query_type, 0) >= EXAMPLES_PER_TYPE:
            continue
        shown[query_type] = shown.get(query_type, 0) + 1
        source = passages.get(record.get("source_id"))
        examples.append(QueryExample(type=query_type, text=record["text"], passage_id=record.get("source_id"),
                                     passage_title=source.title if source else ""))
    return examples


def collect_report_data(run_dir: Path, config, passages: dict[str, Any] | None = None) -> ReportData:
    """Everything the report shows, read from the run folder's artifacts."""
    results = _json(RunLayout(run_dir).eval_results)
    evaluations = [
        EvalSet(name=s["name"], source=s["source"], query_type=s.get("query_type"), num_queries=s["num_queries"],
                results=s["results"], role=s.get("role"), paired=s.get("paired", {}))
        for s in results.get("sets", [])
    ]
    publication = _publication(run_dir)
    notes = [publication.verdict] if publication is not None else []
    if publication is not None and publication.index_unchanged:
        notes.append("index unchanged: the published model encodes documents exactly as the base model does, "
                     "so an index built with the base model stays valid")
    corpus = results.get("corpus") or _json(RunLayout(run_dir).select_curve).get("corpus")
    if corpus:
        notes.append(corpus_sentence(corpus))
    answerable = results.get("answerable")
    if answerable:
        dropped = answerable["dropped_no_overlap"] + answerable["dropped_example_leak"]
        notes.append(f"held-out queries: {answerable['kept']} kept, {dropped} dropped as unanswerable "
                     f"({answerable['dropped_no_overlap']} share no content word with their passage, "
                     f"{answerable['dropped_example_leak']} share more with a few-shot example of their prompt)")
    settings = {
        "corpus": str(config.data.path),
        "generator": f"{config.generate.backend.name}:{config.generate.backend.model}",
        "query types": ", ".join(config.generate.type_names()) + (
            "" if config.generate.types_per_passage is None
            else f" ({config.generate.types_per_passage} a training passage, drawn per passage)"),
        "teacher": " + ".join(f"{t.kind}:{t.model or ''}".rstrip(":") for t in config.score.teachers),
        "student": config.train.model,
        "loss": config.train.loss,
        "tuned side": "queries only (index unchanged)" if config.train.tune == "query" else "queries and documents",
        "list size": str(config.train.list_size),
    }
    return ReportData(
        dataset=Path(config.data.path).name,
        settings=settings,
        evaluations=evaluations,
        training=_training(run_dir, config),
        filters=_filters(run_dir),
        examples=_examples(run_dir, passages or {}),
        timings=stage_timings(run_dir),
        model=ModelInfo(path=str(RunLayout(run_dir).model_dir), base_model=config.train.model,
                        query_prompt=config.train.query_prompt or None),
        publication=publication,
        notes=notes,
    )


def _publication(run_dir: Path) -> Publication | None:
    """The select stage's choice and its curve (mean of the deciding measure per weight and set)."""
    curve = _json(RunLayout(run_dir).select_curve)
    if not curve:
        return None
    measure, curves = curve["measure"], []
    for query_set in curve["sets"]:
        points = []
        for weight, by_set in curve["per_query"].items():
            values = by_set[query_set["name"]][measure]
            points.append((float(weight), sum(values.values()) / len(values)))
        curves.append(InterpolationCurve(name=query_set["name"], points=sorted(points),
                                         deciding=query_set["name"] == curve["decided_on"] and not curve.get("judge")))
    if curve.get("judge"):  # the held-out queries graded by the teacher decided
        points = [(float(weight), sum(values.values()) / len(values))
                  for weight, values in curve["judge"]["per_query"].items()]
        curves.append(InterpolationCurve(name=f"{curve['decided_on']}, graded by the teacher", deciding=True,
                                         points=sorted(points)))
    return Publication(weight=curve["published_weight"], verdict=curve["verdict"], measure=measure, curves=curves,
                       index_unchanged=curve.get("index_unchanged", False))
