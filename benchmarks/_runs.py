"""Run folders driven from a benchmark: the preset's pipeline with overrides, reusing the
generation log and teacher scores of an earlier run folder, and human query sets to evaluate on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from corpustune.cli.stage import read_checked_corpus
from corpustune.config import resolve_config
from corpustune.data.beir import load_split
from corpustune.layout import RunLayout
from corpustune.pipeline import Pipeline, read_timings, save_config
from corpustune.pipeline.stages import build_stages


def carry_caches(source: Path, target: Path) -> None:
    """Copy the generation log and the score cache of run folder `source` into `target` (both are
    content-addressed, so the target computes exactly what a fresh run would, minus that work)."""
    source_layout, target_layout = RunLayout(source), RunLayout(target)
    target_layout.cache_dir.mkdir(parents=True, exist_ok=True)
    if source_layout.generation_log.exists():
        shutil.copyfile(source_layout.generation_log, target_layout.generation_log)
    if source_layout.score_cache.exists():
        shutil.copytree(source_layout.score_cache, target_layout.score_cache, dirs_exist_ok=True)


def run_pipeline(data: Path, preset: str, overrides: tuple[str, ...], folder: Path, reuse: Path | None):
    """Run every stage of the preset with `overrides` in `folder`, after carrying `reuse`'s caches
    in; returns the resolved config and the corpus."""
    config = resolve_config(data, preset, overrides=overrides)
    if reuse is not None:
        carry_caches(reuse, folder)
    passages = read_checked_corpus(config, echo=False)
    save_config(folder, config)
    Pipeline(folder, build_stages(config, passages)).run()
    return config, passages


def stage_seconds(run: Path) -> dict[str, float]:
    """Seconds each stage's work took (`computed_seconds`: also for a stage reused on a re-run)."""
    return {s["stage"]: float(s.get("computed_seconds") or s["seconds"]) for s in read_timings(run)["stages"]}


def kept_lists(run: Path) -> int:
    return int(json.loads(RunLayout(run).scores_stats.read_text())["kept"])


def human_sets(data: Path, splits: list[str]) -> list[dict]:
    """The BEIR folder's human qrels splits as query sets for `evaluate_models`."""
    sets = []
    for split in splits:
        queries, qrels = load_split(data, split)
        sets.append({"name": f"{data.name} {split}", "source": "human", "role": split, "query_type": None,
                     "queries": queries, "qrels": qrels, "num_queries": len(qrels)})
    return sets
