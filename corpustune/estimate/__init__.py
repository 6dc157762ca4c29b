"""`corpustune run --dry-run`: what a run would do and how long it would take, before running it.

`dry_run` asks the pipeline what it would skip, run or resume (`Pipeline.plan`), counts each
stage's work (`workload`: passages, calls, queries, lists, pairs, steps; exact where the run
folder or the generation log tells, else expected from `priors`), measures this machine's rates
in a short calibration with the run's own models (`calibrate`: a few generations, a few
encodings, one training step) and turns both into seconds per stage (`timing`). It writes
nothing to the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corpustune.config import RunConfig
from corpustune.data.records import Passage
from corpustune.estimate.calibrate import Rates, calibrate
from corpustune.estimate.timing import StageEstimate, estimate_stages
from corpustune.estimate.workload import Workload, workload
from corpustune.pipeline.runner import Pipeline, Stage


@dataclass(frozen=True)
class DryRun:
    stages: list[StageEstimate]
    work: Workload
    rates: Rates

    @property
    def total_seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)


def dry_run(config: RunConfig, passages: list[Passage], run_dir: Path, stages: list[Stage]) -> DryRun:
    """Plan, count, calibrate and estimate the run of `stages` (as `build_stages` makes them) in `run_dir`."""
    plans = Pipeline(run_dir, stages).plan()
    work = workload(config, passages, run_dir, {plan.name: plan for plan in plans})
    rates = calibrate(config, passages, work, {plan.name for plan in plans if plan.action != "skip"}, run_dir)
    return DryRun(estimate_stages(config, plans, work, rates), work, rates)
