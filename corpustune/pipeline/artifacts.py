"""Stage markers in the run folder: `RUN/<folder>/STARTED.json` and `RUN/<folder>/DONE.json`.

`DONE.json` is written atomically only after a stage has written all its outputs, so a stage that
was killed or raised leaves no DONE marker and runs again. It records the stage's fingerprint
(settings + input hashes), the sha256 of every output, counts and timings. `STARTED.json` holds
the fingerprint of the attempt in progress, so that a resumed stage can tell whether the partial
work in its folder was made with the same settings. The resolved run config is `RUN/config.yaml`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from corpustune.data.atomic import write_json_atomic, write_text_atomic
from corpustune.errors import InputError
from corpustune.layout import RunLayout
from corpustune.pipeline.fingerprint import canonical_json, hash_path, settings_dict, sha256_text

DONE_FILE = "DONE.json"
STARTED_FILE = "STARTED.json"
# A stage may name its own folder as an output; its markers are bookkeeping, not content.
_MARKERS = frozenset({DONE_FILE, STARTED_FILE})


class StageRecord(BaseModel):
    """What `DONE.json` holds. `outputs` maps paths relative to the run folder to sha256 hashes."""

    model_config = ConfigDict(frozen=True)

    stage: str
    fingerprint: str
    version: str
    settings: dict[str, Any]
    inputs: dict[str, str]
    outputs: dict[str, str]
    counts: dict[str, Any] = {}
    started_at: float  # Unix time, seconds
    finished_at: float
    seconds: float  # wall time of the run that produced the outputs

    @property
    def outputs_digest(self) -> str:
        """One hash over all outputs: the input hash that downstream stages depend on."""
        return sha256_text(canonical_json(self.outputs))


def stage_dir(run_dir: str | os.PathLike, folder: str) -> Path:
    return Path(run_dir) / folder


def hash_outputs(run_dir: str | os.PathLike, outputs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """sha256 of each output (file or folder), keyed by its path relative to the run folder."""
    root = Path(run_dir)
    hashes = {}
    for relative in outputs:
        path = root / relative
        if not path.exists():
            raise FileNotFoundError(f"stage output {relative!r} was not written (expected at {path})")
        hashes[Path(relative).as_posix()] = hash_path(path, _MARKERS)
    return hashes


def folder_digest(run_dir: str | os.PathLike, folder: str) -> str | None:
    """A stand-in for `outputs_digest` of a stage folder that holds no DONE record (its files were
    put there by hand or by other tools): the hash of the folder's content, None when absent."""
    path = stage_dir(run_dir, folder)
    if not path.is_dir():
        return None
    return sha256_text(canonical_json({folder: hash_path(path, _MARKERS)}))


def read_done(run_dir: str | os.PathLike, folder: str) -> StageRecord | None:
    """The stage's DONE record, or None when absent or unreadable (then the stage reruns)."""
    path = stage_dir(run_dir, folder) / DONE_FILE
    try:
        return StageRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def write_done(run_dir: str | os.PathLike, folder: str, record: StageRecord) -> None:
    write_json_atomic(stage_dir(run_dir, folder) / DONE_FILE, record.model_dump(mode="json"))


def clear_done(run_dir: str | os.PathLike, folder: str) -> None:
    (stage_dir(run_dir, folder) / DONE_FILE).unlink(missing_ok=True)


def changed_outputs(run_dir: str | os.PathLike, record: StageRecord) -> list[str]:
    """The recorded outputs (paths relative to the run folder) that are missing now or whose hash
    differs from the record; empty when the stage's outputs are as it wrote them."""
    root = Path(run_dir)
    return [relative for relative, expected in record.outputs.items()
            if not (root / relative).exists() or hash_path(root / relative, _MARKERS) != expected]


def outputs_intact(run_dir: str | os.PathLike, record: StageRecord) -> bool:
    """True when every recorded output still exists with the recorded hash."""
    return not changed_outputs(run_dir, record)


def is_done(run_dir: str | os.PathLike, folder: str, fingerprint: str) -> StageRecord | None:
    """The DONE record if the stage finished with this fingerprint and its outputs are unchanged."""
    record = read_done(run_dir, folder)
    if record is None or record.fingerprint != fingerprint or not outputs_intact(run_dir, record):
        return None
    return record


def read_started(run_dir: str | os.PathLike, folder: str) -> str | None:
    """Fingerprint of the last attempt that started this stage, or None."""
    try:
        data = json.loads((stage_dir(run_dir, folder) / STARTED_FILE).read_text(encoding="utf-8"))
        return data["fingerprint"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def write_started(run_dir: str | os.PathLike, folder: str, fingerprint: str, started_at: float) -> None:
    write_json_atomic(stage_dir(run_dir, folder) / STARTED_FILE,
                      {"fingerprint": fingerprint, "started_at": started_at})


def save_config(run_dir: str | os.PathLike, config: BaseModel | Mapping[str, Any]) -> Path:
    """Write the resolved config as `RUN/config.yaml` (atomically, keys in model order)."""
    path = RunLayout(run_dir).config_file
    text = yaml.safe_dump(settings_dict(config), sort_keys=False, allow_unicode=True)
    write_text_atomic(path, text)
    return path


def load_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read `RUN/config.yaml` back as plain data (validate it with the config model)."""
    path = RunLayout(run_dir).config_file
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML ({error}); fix or delete the file") from error
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of settings at the top level; fix or delete the file")
    return data
