"""Run folders driven from a benchmark: the preset's pipeline with overrides, reusing the
generation log and teacher scores of an earlier run folder, human query sets to evaluate on, and
setting variants compared on them."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from corpustune.cli.stage import read_checked_corpus
from corpustune.config import resolve_config
from corpustune.data.beir import load_split
from corpustune.evaluate.compare import evaluate_models
from corpustune.evaluate.paired import aligned, paired_difference
from corpustune.hardware import cpu_description
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


def compare_variants(args, variants: dict[str, tuple[str, ...]],
                     measures: tuple[str, ...] = ("nDCG@10", "R@100")) -> None:
    """Print the CPU, run each variant's overrides from `args.run`'s generated queries and teacher
    scores in `args.out/<name>`, evaluate its tuned model (a = 1) beside the base on `args.splits`,
    and print each measure with the paired per-query difference to the base and to the variant
    `preset` (the `args.run` folder itself, made with `args.preset` and `args.set`), ± standard
    errors.

    `args` holds data, run, out, splits, preset and set (a list of KEY=VALUE), as `variant_parser`
    parses them.
    """
    print(f"CPU: {cpu_description()}", flush=True)
    models, lists, passages = {}, {}, None
    for name, variant_overrides in variants.items():
        if name == "preset":
            folder = args.run
            config = resolve_config(args.data, args.preset, overrides=tuple(args.set))
        else:
            # the select stage only needs a = 1 here (the tuned model is what is compared)
            overrides = (*args.set, *variant_overrides, "select.weights=[0.0, 1.0]", "ablation=[]")
            folder = args.out / name
            config, passages = run_pipeline(args.data, args.preset, overrides, folder, args.run)
        models.setdefault("base", config.train.model)
        models[name] = str(RunLayout(folder).arm_dirs(config.train.loss, main=True)[1])
        lists[name] = kept_lists(folder)
        print(f"{name}: {lists[name]} lists, train stage {stage_seconds(folder).get('train', 0.0):.0f} s", flush=True)

    passages = passages or read_checked_corpus(config, echo=False)
    sets = human_sets(args.data, args.splits)
    values = evaluate_models(passages, models, sets, measures=measures)
    reference = "preset" if "preset" in models else None
    for query_set in sets:
        print(f"\n{query_set['name']} ({query_set['num_queries']} queries)")
        for label in models:
            cells = []
            for measure in measures:
                per_query = values[label][query_set["name"]][measure]
                mean = 100 * sum(per_query.values()) / len(per_query)
                cell = f"{measure} {mean:.2f}"
                for against in ("base", reference):
                    if against is not None and label not in ("base", against):
                        difference = paired_difference(*aligned(per_query, values[against][query_set["name"]][measure]))
                        cell += f" ({100 * difference.mean:+.2f} ± {100 * difference.se:.2f} vs {against})"
                cells.append(cell)
            size = f"{lists[label]:4d} lists" if label in lists else "          "
            print(f"  {label:20s} {size}  " + "  ".join(cells))


def variant_parser(description: str) -> argparse.ArgumentParser:
    """The command line that `compare_variants` reads: data, run, out, splits, preset, set."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True, help="run folder whose generation log and scores to reuse")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--splits", default="train", type=lambda s: s.split(","))
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--set", action="append", default=[], help="any setting, as for `corpustune run --set`")
    return parser
