"""`corpustune run`: generate -> mine -> score -> train -> evaluate -> report in one run folder."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import (ExampleQueries, RunFolder, SettingsOptions, example_queries_setting, print_table,
                                    with_settings_options)
from corpustune.layout import RunLayout

DryRunFlag = Annotated[bool, typer.Option("--dry-run", help="Print what each stage would do and reuse, its work, "
                                          "a time estimate from a short calibration and the peak memory and disk "
                                          "it needs (warning when this machine lacks them); write nothing.")]


@with_settings_options
def command(out: RunFolder = Path("runs/corpustune"), dry_run: DryRunFlag = False,
            example_queries: ExampleQueries = None, *, settings: SettingsOptions) -> None:
    """Run the whole pipeline; finished stages and finished work inside a stage are skipped. Every
    input the stages will read is checked before the first one starts (also with --dry-run)."""
    from corpustune.cli.stage import read_checked_corpus
    from corpustune.pipeline import Pipeline, save_config
    from corpustune.pipeline.runner import run_lock
    from corpustune.pipeline.stages import build_stages

    started = time.perf_counter()
    resolved = settings.resolve(example_queries_setting(example_queries))
    passages = read_checked_corpus(resolved, out=out)
    if dry_run:
        _print_dry_run(out, resolved, passages, build_stages(resolved, passages))
        return
    with run_lock(out):
        save_config(out, resolved)
        Pipeline(out, build_stages(resolved, passages)).run()
    _print_summary(out, time.perf_counter() - started)


def _print_dry_run(out: Path, config, passages, stages) -> None:
    """The dry run's table: per stage what it would do, reuse, its work and its estimated time."""
    from corpustune.errors import InputError
    from corpustune.estimate import dry_run
    from corpustune.estimate.footprint import GIGABYTE, describe
    from corpustune.hardware import cpu_description
    from corpustune.pipeline.runner import format_seconds

    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file, but --out names the run folder; give a folder (new or from an "
                         f"earlier run)")

    print(f"dry run of {out} (nothing is written); calibrating on this machine ...", flush=True)
    result = dry_run(config, passages, out, stages)
    print_table(["stage", "would", "reuses", "work", "estimate"],
                [[s.name, s.action, s.reuses, s.work, format_seconds(s.seconds)] for s in result.stages])
    print(f"total: about {format_seconds(result.total_seconds)} ({result.total_seconds / 60:.1f} min)")
    for stage in result.stages:
        if stage.action not in ("skip", "run"):
            print(f"  {stage.name}: {stage.action}: {stage.reason}")
    footprint, (memory, disk) = result.footprint, result.limits
    available = "unknown" if memory is None else f"{memory / GIGABYTE:.1f} GB"
    peak = (f"about {footprint.peak_memory / GIGABYTE:.2f} GB at peak, in {footprint.memory_stage} "
            f"({describe(footprint.memory)})" if footprint.memory else "no corpus-wide stage runs")
    print(f"memory: {peak}; available now: {available}")
    free = "unknown" if disk is None else f"{disk / GIGABYTE:.1f} GB"
    print(f"disk: about {footprint.disk_total / GIGABYTE:.2f} GB written under {out} "
          f"({describe(footprint.disk) or 'nothing'}); free there: {free}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rates = result.rates
    measured = [f"{rates.generate_s_per_call:.2f} s per generation call ({rates.generate_calls} calls)"]
    measured += [f"{name}: {1000 * rate.s_per_token:.3f} ms per token" for name, rate in rates.encoders.items()]
    measured += [f"teacher {i + 1}: {rate.s_per_pair:.3f} s per pair" for i, rate in enumerate(rates.teachers)]
    measured += [f"training: {rates.train_s_per_list:.2f} s per list of the calibration step"]
    print(f"calibration: {format_seconds(rates.seconds)} on {cpu_description()}")
    print("  " + "; ".join(measured))
    print("~ counts are expected from a measured run (corpustune/estimate/priors.py); "
          "early stopping can end training sooner")


def _print_summary(out: Path, seconds: float) -> None:
    """Every model on every query set, the published model's paired difference to the base
    (per query, ± its standard error), and what was published."""
    import json

    from corpustune.evaluate.subcorpus import corpus_sentence

    layout = RunLayout(out)
    results_path = layout.eval_results
    if results_path.exists():
        results = json.loads(results_path.read_text())
        arms = list(results["models"])
        rows = []
        for evaluated in results["sets"]:
            for measure in next(iter(evaluated["results"].values())):
                paired = evaluated.get("paired", {}).get("published", {}).get(measure)
                difference = "" if paired is None else f"{100 * paired['mean']:+.2f} ± {100 * paired['se']:.2f}"
                rows.append([evaluated["name"], str(evaluated["num_queries"]), measure]
                            + [f"{100 * evaluated['results'][arm][measure]:.2f}" for arm in arms] + [difference])
        print_table(["query set", "queries", "measure"] + arms + ["published - base"], rows)
        print(results.get("verdict", ""))
        curve = json.loads(layout.select_curve.read_text()) if layout.select_curve.exists() else {}
        if "corpus" in results:
            print(corpus_sentence(results["corpus"]))
        if curve.get("index_unchanged") and curve.get("published_weight"):
            print("index unchanged: documents are encoded by the base model, bit for bit (no re-embedding)")
    print(f"finished in {seconds / 60:.1f} min; report: {layout.report_html}")
    print(f"published model: {layout.model_dir}  (load it with SentenceTransformer(\"{layout.model_dir}\"))")
