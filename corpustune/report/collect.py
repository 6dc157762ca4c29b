"""Build parts of ReportData from what the pipeline leaves in the run folder."""

from __future__ import annotations

import os

from corpustune.pipeline.runner import read_timings
from corpustune.report.schema import StageTiming


def stage_timings(run_dir: str | os.PathLike) -> list[StageTiming]:
    """Per-stage times from `RUN/timings.json`: for a skipped stage, the time it took when it was
    computed (from its DONE record); for a failed one, the time until it failed."""
    timings = []
    for entry in read_timings(run_dir)["stages"]:
        seconds = entry.get("computed_seconds", entry["seconds"])
        timings.append(StageTiming(stage=entry["stage"], seconds=seconds, status=entry["status"]))
    return timings
