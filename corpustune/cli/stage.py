"""What every stage command shares once its settings are resolved (`options.SettingsOptions`, as
`corpustune run` resolves them): read the corpus and run that one stage of the pipeline."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from corpustune.config import RunConfig
from corpustune.data.records import Passage
from corpustune.parallel import Context
from corpustune.pipeline import Pipeline, save_config
from corpustune.pipeline.runner import StageOutcome, run_lock


def run_stage_command(name: str, settings: RunConfig, out: Path, context: Context | None = None, *,
                      fresh: bool = False) -> StageOutcome | None:
    """Run stage `name` of the pipeline in `out` with `settings`; returns its outcome on rank 0.

    The stage's inputs are checked first (`preflight`); then rank 0 locks the run folder for the
    whole command and saves the settings as the run's config, so that the folder says what made it.
    """
    from corpustune.pipeline.stages import build_stages

    context = context or Context()
    passages = read_checked_corpus(settings, [name], context.is_main, out)
    with run_lock(out) if context.is_main else nullcontext():
        if context.is_main:
            save_config(out, settings)
        pipeline = Pipeline(out, build_stages(settings, passages, context), echo=print if context.is_main else _silent)
        return pipeline.run_stage(name, context, fresh=fresh)


def read_checked_corpus(settings: RunConfig, stages: list[str] | None = None, echo: bool = True,
                        out: Path | None = None) -> list[Passage]:
    """Read the corpus and check every other input of `stages` (None: of every stage;
    `preflight.check_inputs`) and that the run folder `out` is not the text folder read; prints
    what was read (with every document of a text folder that yields no text, and why) and the
    warnings when `echo`."""
    from corpustune.data.corpus import ReadReport, check_out_folder, read_passages
    from corpustune.pipeline.preflight import check_inputs

    if out is not None:
        check_out_folder(settings.data, out)
    report = ReadReport()
    passages = read_passages(settings.data, report)
    warnings = check_inputs(settings, passages, stages)
    if echo:
        print(f"{settings.data.path}: {report.summary()}")
        for bad in report.bad_files:
            print(f"  {bad.describe()}")
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return passages


def read_stats(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _silent(_: str) -> None:
    """Ranks other than 0 print nothing."""
