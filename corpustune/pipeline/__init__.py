"""Stage mechanics for the run folder: fingerprints, DONE markers, the resolved config, and a
runner that skips finished stages and recomputes only what a change affects."""

from corpustune.pipeline.artifacts import StageRecord, is_done, load_config, read_done, save_config
from corpustune.pipeline.fingerprint import hash_path, stage_fingerprint
from corpustune.pipeline.runner import Pipeline, Stage, StageOutcome, StageResult, read_timings

__all__ = [
    "Pipeline", "Stage", "StageOutcome", "StageRecord", "StageResult", "hash_path", "is_done",
    "load_config", "read_done", "read_timings", "save_config", "stage_fingerprint",
]
