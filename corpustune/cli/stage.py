"""What every stage command shares once its settings are resolved (`options.SettingsOptions`, as
`corpustune run` resolves them): read the corpus and run that one stage of the pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corpustune.config import RunConfig
from corpustune.parallel import Context
from corpustune.pipeline.runner import StageOutcome


def run_stage_command(name: str, settings: RunConfig, out: Path, context: Context | None = None, *,
                      fresh: bool = False) -> StageOutcome | None:
    """Run stage `name` of the pipeline in `out` with `settings`; returns its outcome on rank 0.

    The settings are saved as the run's config (rank 0), so that the run folder says what made it.
    """
    from corpustune.data.corpus import ReadReport, read_passages
    from corpustune.pipeline import Pipeline, save_config
    from corpustune.pipeline.stages import build_stages

    context = context or Context()
    report = ReadReport()
    passages = read_passages(settings.data, report)
    if context.is_main:
        print(f"{settings.data.path}: {report.summary()}")
        save_config(out, settings)
    pipeline = Pipeline(out, build_stages(settings, passages, context), echo=print if context.is_main else _silent)
    return pipeline.run_stage(name, context, fresh=fresh)


def read_stats(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _silent(_: str) -> None:
    """Ranks other than 0 print nothing."""
