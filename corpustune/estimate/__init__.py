"""`corpustune run --dry-run`: what a run would do and how long it would take, before running it.

`dry_run` asks the pipeline what it would skip, run or resume (`Pipeline.plan`), counts each
stage's work (`workload`: passages, calls, queries, lists, pairs, steps; exact where the run
folder or the generation log tells, else expected from `priors`), measures this machine's rates
in a short calibration with the run's own models (`calibrate`: a few generations, a few
encodings, one training step) and turns both into seconds per stage (`timing`), and estimates
the run's peak memory and disk (`footprint`) and warns when they exceed what this machine has.
It writes nothing to the run folder and holds no copy of the corpus beyond the passages given.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from corpustune.config import RunConfig
from corpustune.data.records import Passage
from corpustune.estimate.calibrate import CORPUS_TOKEN_SAMPLE, Rates, calibrate
from corpustune.estimate.footprint import (Footprint, corpus_encodings, estimate_footprint, fit_warnings,
                                           limits_here, measure_corpus)
from corpustune.estimate.timing import StageEstimate, estimate_stages
from corpustune.estimate.workload import Workload, workload
from corpustune.pipeline.runner import Pipeline, Stage


@dataclass(frozen=True)
class DryRun:
    stages: list[StageEstimate]
    work: Workload
    rates: Rates
    footprint: Footprint
    limits: tuple[int | None, int | None]
    """(available memory, free disk at the run folder) in bytes; None: unknown."""
    warnings: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)


def dry_run(config: RunConfig, passages: list[Passage], run_dir: Path, stages: list[Stage],
            limits: tuple[int | None, int | None] | None = None) -> DryRun:
    """Plan, count, calibrate and estimate the run of `stages` (as `build_stages` makes them) in `run_dir`.

    `limits`: (memory, disk) bytes to check the footprint against; None: this machine's available
    memory and the free disk at `run_dir`.
    """
    plans = Pipeline(run_dir, stages).plan()
    running = {plan.name for plan in plans if plan.action != "skip"}
    work = workload(config, passages, run_dir, {plan.name: plan for plan in plans})
    rates = calibrate(config, passages, work, running, run_dir)
    sample = random.Random(0).sample(passages, min(CORPUS_TOKEN_SAMPLE, len(passages)))
    models = {key: rate.size for key, rate in rates.encoders.items() if rate.size is not None}
    footprint = estimate_footprint(config, work, measure_corpus(passages, sample), models, running,
                                   corpus_encodings(config, work, rates, running))
    limits = limits_here(run_dir) if limits is None else limits
    warnings = fit_warnings(footprint, memory_limit=limits[0], disk_limit=limits[1], out=run_dir)
    return DryRun(estimate_stages(config, plans, work, rates), work, rates, footprint, limits, warnings)
