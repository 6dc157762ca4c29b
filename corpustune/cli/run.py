"""`corpustune run`: generate -> mine -> score -> train -> evaluate -> report in one run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import print_table


def command(
    data: Annotated[Path | None, typer.Option("--data", help="Corpus (BEIR folder, JSONL, CSV/TSV, Parquet or a text folder).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Run folder; re-running the same command resumes it.")] = Path("runs/corpustune"),
    preset: Annotated[str | None, typer.Option(help="laptop (offline, 2 CPU cores) or paper (GPU, hub models).")] = "laptop",
    config: Annotated[Path | None, typer.Option(help="YAML file overriding any setting (see `corpustune config`).")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override one setting, e.g. --set train.epochs=2.")] = None,
) -> None:
    """Run the whole pipeline; finished stages and finished work inside a stage are skipped."""
    from corpustune.config import resolve_config
    from corpustune.data.corpus import ReadReport, read_passages
    from corpustune.pipeline import Pipeline, save_config
    from corpustune.pipeline.stages import build_stages

    started = time.perf_counter()
    settings = resolve_config(data, preset, config, tuple(overrides or ()))
    report = ReadReport()
    passages = read_passages(settings.data, report)
    print(f"{settings.data.path}: {report.summary()}")
    save_config(out, settings)
    Pipeline(out, build_stages(settings, passages)).run()
    _print_summary(out, time.perf_counter() - started)


def _print_summary(out: Path, seconds: float) -> None:
    import json

    results_path = out / "eval" / "results.json"
    if results_path.exists():
        results = json.loads(results_path.read_text())
        arms = list(results["models"])
        rows = []
        for evaluated in results["sets"]:
            for measure in next(iter(evaluated["results"].values())):
                rows.append([evaluated["name"], str(evaluated["num_queries"]), measure]
                            + [f"{100 * evaluated['results'][arm][measure]:.2f}" for arm in arms])
        print_table(["query set", "queries", "measure"] + arms, rows)
    print(f"finished in {seconds / 60:.1f} min; report: {out / 'report.html'}")
    print(f"tuned model: {out / 'model'}  (load it with SentenceTransformer(\"{out / 'model'}\"))")
