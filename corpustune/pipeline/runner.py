"""Run stages in order, skipping those whose fingerprint and outputs are unchanged.

A stage is a callable `(run_dir, settings, inputs) -> StageResult`: `settings` is the stage's
config object as given, `inputs` maps input names to hashes (external inputs such as the corpus,
plus one entry per upstream stage: that stage's outputs digest). Because downstream inputs
include upstream output hashes, a changed setting reruns its stage and everything whose inputs
then change, but nothing upstream. A stage that raises (or is killed) leaves no DONE marker.
The stage's folder exists when it runs; the run folder is locked against a second concurrent run.

`run_stage` runs one stage alone (the stage commands: `corpustune mine`, ...), also under
torchrun: it takes the upstream stages as the run folder holds them, so a stage run by hand
records the fingerprint that `corpustune run` computes from the same inputs and settings, and a
later `run` continues without doing that stage again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from corpustune.data.atomic import write_json_atomic
from corpustune.errors import InputError
from corpustune.layout import LOCK_FILE
from corpustune.parallel import Context, barrier
from corpustune.pipeline import artifacts
from corpustune.pipeline.fingerprint import settings_dict, stage_fingerprint

TIMINGS_FILE = "timings.json"


@dataclass(frozen=True)
class StageResult:
    """What a stage returns: its output paths (relative to the run folder; files or folders) and
    JSON-ready counts for the report (e.g. {"kept": 800, "dropped_not_top1": 120})."""

    outputs: Sequence[str]
    counts: Mapping[str, Any] = field(default_factory=dict)


StageFn = Callable[[Path, Any, dict[str, str]], StageResult]


@dataclass(frozen=True)
class Stage:
    """One pipeline step. `after` names earlier stages whose outputs this one reads; `inputs`
    maps names to hashes of external inputs (see `fingerprint.hash_path`); `folder` is where
    its markers live (`RUN/<folder>/DONE.json`, default the name); bump `version` when the
    stage's code changes what it produces."""

    name: str
    run: StageFn
    settings: BaseModel | Mapping[str, Any] | None = None
    after: tuple[str, ...] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    folder: str | None = None
    version: str = "1"

    @property
    def marker_folder(self) -> str:
        return self.folder or self.name


@dataclass(frozen=True)
class StagePlan:
    """What `run()` would do with one stage now, without doing it (`Pipeline.plan`).

    `action`: skip (up to date), run (never started here), rerun (finished with other settings
    or inputs, or its outputs were changed since), resume (a run with these very settings was
    started and not finished: its partial work is reused) or after (it ran here before, but an
    upstream stage runs first, so it runs again on the new outputs). `record`: the stage's DONE
    record when it is up to date.
    """

    name: str
    action: Literal["skip", "run", "rerun", "resume", "after"]
    reason: str
    record: artifacts.StageRecord | None = None


@dataclass(frozen=True)
class StageOutcome:
    """How one stage went in this invocation: `seconds` is the time spent now (0-ish if skipped)."""

    name: str
    status: Literal["done", "skipped"]
    seconds: float
    record: artifacts.StageRecord


def _plain_relative(path: str) -> bool:
    parts = Path(path).parts
    return bool(parts) and not Path(path).is_absolute() and not any(p in (".", "..") for p in parts)


_held_locks: dict[Path, int] = {}
"""Run folders this process holds the lock of, with how many `run_lock` blocks hold it."""


@contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on `RUN/.lock` (making RUN) so that two processes cannot write one
    run folder at once; a second process is refused with InputError. The OS releases the lock
    when the process dies; within one process the lock nests. No lock where `fcntl` is missing
    (Windows)."""
    folder = Path(run_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: is a file, but --out names the run folder; give a folder (new or from an "
                         f"earlier run)")
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    if key in _held_locks:
        _held_locks[key] += 1
        try:
            yield
        finally:
            _held_locks[key] -= 1
        return
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another corpustune process is writing {folder} (it holds {folder / LOCK_FILE}); "
                             f"wait for it to finish or stop it, then run again") from None
        _held_locks[key] = 1
        try:
            yield
        finally:
            del _held_locks[key]
            fcntl.flock(handle, fcntl.LOCK_UN)


def format_seconds(seconds: float) -> str:
    """12.3 s / 4 min 05 s / 1 h 02 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Pipeline:
    """Ordered stages over one run folder; `run()` executes or skips each and records timings."""

    def __init__(self, run_dir: str | os.PathLike, stages: Sequence[Stage],
                 echo: Callable[[str], None] = print):
        self.run_dir = Path(run_dir)
        self.stages = list(stages)
        self.echo = echo
        self._validate()

    def _validate(self) -> None:
        seen: set[str] = set()
        folders: set[Path] = set()
        for stage in self.stages:
            if stage.name in seen:
                raise ValueError(f"stage name {stage.name!r} is used twice; stage names must be unique")
            folder = Path(stage.marker_folder)
            if not _plain_relative(stage.marker_folder):
                raise ValueError(f"stage {stage.name!r}: folder {stage.marker_folder!r} must be a plain "
                                 "relative sub-folder of the run folder")
            # A stage's folder may be discarded when its settings change, so none may hold another's.
            if any(folder == other or other in folder.parents or folder in other.parents for other in folders):
                raise ValueError(f"stage {stage.name!r}: folder {stage.marker_folder!r} overlaps the folder "
                                 "of another stage")
            for upstream in stage.after:
                if upstream not in seen:
                    raise ValueError(f"stage {stage.name!r} depends on {upstream!r}, which is not an earlier stage")
            clash = set(stage.after) & set(stage.inputs)
            if clash:
                raise ValueError(f"stage {stage.name!r}: input names {sorted(clash)} clash with upstream stage names")
            seen.add(stage.name)
            folders.add(folder)

    def run(self) -> dict[str, StageOutcome]:
        """Run every stage in order; returns outcomes by name. Re-raises a stage's exception after
        recording it as failed (or interrupted) in `RUN/timings.json`."""
        with run_lock(self.run_dir):
            return self._run_all()

    def plan(self) -> list[StagePlan]:
        """What `run()` would do with each stage, in order; reads the run folder, writes nothing
        (not even the folder itself)."""
        plans: list[StagePlan] = []
        digests: dict[str, str] = {}
        for stage in self.stages:
            waiting = [name for name in stage.after if name not in digests]
            started = artifacts.read_started(self.run_dir, stage.marker_folder)
            previous = artifacts.read_done(self.run_dir, stage.marker_folder)
            if waiting and (previous is not None or started is not None):
                plans.append(StagePlan(stage.name, "after", f"runs again on the new outputs of {', '.join(waiting)}"))
                continue
            if waiting:
                plans.append(StagePlan(stage.name, "run", "not run in this folder yet"))
                continue
            inputs = dict(stage.inputs) | {name: digests[name] for name in stage.after}
            fingerprint = stage_fingerprint(stage.name, stage.version, stage.settings, inputs)
            record = artifacts.is_done(self.run_dir, stage.marker_folder, fingerprint)
            if record is not None:
                digests[stage.name] = record.outputs_digest
                plans.append(StagePlan(stage.name, "skip", f"up to date (computed in {format_seconds(record.seconds)})",
                                       record))
            elif started == fingerprint and previous is None:
                plans.append(StagePlan(stage.name, "resume", "started with these settings and not finished: "
                                                             "its partial work is reused"))
            elif previous is not None:
                why = "its outputs were changed" if previous.fingerprint == fingerprint else "settings or inputs changed"
                plans.append(StagePlan(stage.name, "rerun", why))
            else:
                plans.append(StagePlan(stage.name, "run", "not run in this folder yet"))
        return plans

    def run_stage(self, name: str, context: Context | None = None, *, fresh: bool = False) -> StageOutcome | None:
        """Run stage `name` alone, unless it is up to date; returns its outcome on rank 0 and
        None on the other ranks.

        Upstream stages are not run: each counts with the outputs its DONE record names, or, for
        a folder without one (files put there by hand), with the hash of the folder's content.
        `fresh` discards the stage's folder first (e.g. training checkpoints). Under torchrun
        every rank runs the stage function; rank 0 alone takes the lock and writes the markers.
        """
        context = context or Context()
        names = [stage.name for stage in self.stages]
        if name not in names:
            raise ValueError(f"no stage {name!r}; stages: {', '.join(names)}")
        stage = self.stages[names.index(name)]
        if not context.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        with run_lock(self.run_dir) if context.is_main else nullcontext():
            inputs = dict(stage.inputs)
            digests = self._upstream_digests(stage, context.is_main)
            for upstream in stage.after:
                inputs[upstream] = digests[upstream] or "absent"
            fingerprint = stage_fingerprint(stage.name, stage.version, stage.settings, inputs)
            record = None if fresh else artifacts.is_done(self.run_dir, stage.marker_folder, fingerprint)
            barrier(context)  # every rank has decided before rank 0 touches the folder
            label = f"{stage.name:<10}"
            if record is not None:
                if context.is_main:
                    self.echo(f"{label} skipped  (up to date; computed in {format_seconds(record.seconds)})")
                    return StageOutcome(stage.name, "skipped", 0.0, record)
                return None
            if context.is_main:
                self.echo(f"{label} running")
                if fresh:
                    shutil.rmtree(artifacts.stage_dir(self.run_dir, stage.marker_folder), ignore_errors=True)
                started_at = self._prepare(stage, fingerprint)
            barrier(context)
            begin = time.perf_counter()
            result = self._attempt(stage, inputs, context.is_main)
            seconds = time.perf_counter() - begin
            if not context.is_main:
                return None
            record = self._finish(stage, fingerprint, inputs, result, started_at, seconds)
            self.echo(f"{label} done     {format_seconds(seconds)}")
            return StageOutcome(stage.name, "done", seconds, record)

    def _upstream_digests(self, stage: Stage, is_main: bool) -> dict[str, str | None]:
        """Output digests of every stage `stage` depends on, directly or not, as the folder holds
        them; tells (on rank 0) where that differs from what `run` with these settings would do."""
        by_name = {s.name: s for s in self.stages}
        needed: set[str] = set()
        pending = list(stage.after)
        while pending:
            name = pending.pop()
            if name not in needed:
                needed.add(name)
                pending += by_name[name].after
        digests: dict[str, str | None] = {}
        for upstream in self.stages:
            if upstream.name not in needed:
                continue
            inputs = dict(upstream.inputs) | {n: digests[n] or "absent" for n in upstream.after}
            expected = stage_fingerprint(upstream.name, upstream.version, upstream.settings, inputs)
            record = artifacts.read_done(self.run_dir, upstream.marker_folder)
            folder = self.run_dir / upstream.marker_folder
            if record is not None:
                _refuse_changed_outputs(self.run_dir, upstream, record)
                digests[upstream.name] = record.outputs_digest
                if record.fingerprint != expected and is_main:
                    self.echo(f"note: {folder} was made with other settings or inputs than these; using it as it "
                              f"is (`corpustune run` with these settings would redo {upstream.name} and what follows)")
            else:
                digests[upstream.name] = artifacts.folder_digest(self.run_dir, upstream.marker_folder)
                if digests[upstream.name] is not None and is_main:
                    self.echo(f"note: {folder} has no {artifacts.DONE_FILE} (made outside corpustune, or "
                              f"unfinished); using its files as they are")
        return digests

    def _why_rerun(self, stage: Stage, fingerprint: str) -> str:
        """Why a stage that finished here before runs again with `fingerprint` ("" when it never
        finished): names an output changed since its DONE record, so a damaged or edited file is
        not redone in silence."""
        previous = artifacts.read_done(self.run_dir, stage.marker_folder)
        if previous is None:
            return ""
        if previous.fingerprint != fingerprint:
            return "  (settings or inputs changed)"
        changed = artifacts.changed_outputs(self.run_dir, previous)
        return (f"  ({self.run_dir / changed[0]} changed since {artifacts.DONE_FILE} recorded it: redoing "
                f"{stage.name} and what depends on it)") if changed else ""

    def _run_all(self) -> dict[str, StageOutcome]:
        outcomes: dict[str, StageOutcome] = {}
        timings: list[dict[str, Any]] = []
        for index, stage in enumerate(self.stages, start=1):
            label = f"[{index}/{len(self.stages)}] {stage.name:<10}"
            inputs = dict(stage.inputs)
            for upstream in stage.after:
                inputs[upstream] = outcomes[upstream].record.outputs_digest
            fingerprint = stage_fingerprint(stage.name, stage.version, stage.settings, inputs)
            begin = time.perf_counter()
            record = artifacts.is_done(self.run_dir, stage.marker_folder, fingerprint)
            if record is not None:
                outcome = StageOutcome(stage.name, "skipped", time.perf_counter() - begin, record)
                self.echo(f"{label} skipped  (up to date; computed in {format_seconds(record.seconds)})")
            else:
                self.echo(f"{label} running" + self._why_rerun(stage, fingerprint))
                try:
                    record = self._execute(stage, fingerprint, inputs)
                except BaseException as error:
                    elapsed = time.perf_counter() - begin
                    interrupted = isinstance(error, KeyboardInterrupt)
                    timings.append({"stage": stage.name, "status": "interrupted" if interrupted else "failed",
                                    "seconds": elapsed})
                    self._write_timings(timings)
                    self.echo(f"{label} {'interrupted' if interrupted else 'FAILED'} after {format_seconds(elapsed)}")
                    raise
                outcome = StageOutcome(stage.name, "done", time.perf_counter() - begin, record)
                counts = " ".join(f"{key}={value}" for key, value in record.counts.items())
                self.echo(f"{label} done     {format_seconds(outcome.seconds)}" + (f"  {counts}" if counts else ""))
            outcomes[stage.name] = outcome
            timings.append({"stage": stage.name, "status": outcome.status, "seconds": outcome.seconds,
                            "computed_seconds": record.seconds})
            self._write_timings(timings)
        return outcomes

    def _execute(self, stage: Stage, fingerprint: str, inputs: dict[str, str]) -> artifacts.StageRecord:
        started_at = self._prepare(stage, fingerprint)
        begin = time.perf_counter()
        result = self._attempt(stage, inputs, True)
        return self._finish(stage, fingerprint, inputs, result, started_at, time.perf_counter() - begin)

    def _attempt(self, stage: Stage, inputs: dict[str, str], is_main: bool) -> StageResult:
        """Run the stage function; when it fails before writing anything, its folder (holding only
        the STARTED marker) is removed again (rank 0), so a failed attempt leaves no empty folder."""
        try:
            return stage.run(self.run_dir, stage.settings, dict(inputs))
        except BaseException:
            folder = artifacts.stage_dir(self.run_dir, stage.marker_folder)
            if is_main and folder.is_dir() and {p.name for p in folder.iterdir()} <= {artifacts.STARTED_FILE}:
                shutil.rmtree(folder)
            raise

    def _prepare(self, stage: Stage, fingerprint: str) -> float:
        """Make the stage's folder ready for an attempt with `fingerprint`; returns the start time."""
        folder = artifacts.stage_dir(self.run_dir, stage.marker_folder)
        previous = artifacts.read_started(self.run_dir, stage.marker_folder)
        if previous is not None and previous != fingerprint:
            # Partial or finished work in the folder was made with other settings or inputs:
            # resuming from it would mix two configurations.
            self.echo(f"      {stage.name}: settings or inputs changed; discarding {folder}")
            shutil.rmtree(folder)
        artifacts.clear_done(self.run_dir, stage.marker_folder)
        started_at = time.time()
        artifacts.write_started(self.run_dir, stage.marker_folder, fingerprint, started_at)
        return started_at

    def _finish(self, stage: Stage, fingerprint: str, inputs: dict[str, str], result: StageResult,
                started_at: float, seconds: float) -> artifacts.StageRecord:
        """Check what the stage returned and write its DONE record."""
        if not isinstance(result, StageResult):
            raise TypeError(f"stage {stage.name!r} returned {type(result).__name__}; it must return a StageResult")
        outside = [path for path in result.outputs if not _plain_relative(path)]
        if outside:
            raise ValueError(f"stage {stage.name!r}: outputs {outside} must be paths inside the run folder, "
                             "relative to it")
        record = artifacts.StageRecord(
            stage=stage.name, fingerprint=fingerprint, version=stage.version,
            settings=settings_dict(stage.settings), inputs=inputs,
            outputs=artifacts.hash_outputs(self.run_dir, list(result.outputs)),
            counts=dict(result.counts), started_at=started_at, finished_at=time.time(), seconds=seconds,
        )
        artifacts.write_done(self.run_dir, stage.marker_folder, record)
        return record

    def _write_timings(self, timings: list[dict[str, Any]]) -> None:
        total = sum(entry["seconds"] for entry in timings)
        write_json_atomic(self.run_dir / TIMINGS_FILE, {"stages": timings, "total_seconds": total})


def _refuse_changed_outputs(run_dir: Path, stage: Stage, record: artifacts.StageRecord) -> None:
    """InputError when an output of the finished `stage` no longer matches its DONE record: a
    stage run by hand must not read files edited or damaged since they were made, nor record
    them under the digest of the originals."""
    changed = artifacts.changed_outputs(run_dir, record)
    if changed:
        done = artifacts.stage_dir(run_dir, stage.marker_folder) / artifacts.DONE_FILE
        state = "is missing" if not (run_dir / changed[0]).exists() else "was changed"
        raise InputError(f"{run_dir / changed[0]} {state} after the {stage.name} stage wrote it (it no longer "
                         f"matches {done}); rerun the {stage.name} stage to remake it (`corpustune run` does), "
                         f"or delete {done} to use the files as they are")


def read_timings(run_dir: str | os.PathLike) -> dict[str, Any]:
    """`RUN/timings.json` as written by the last `Pipeline.run` ({"stages": [...], "total_seconds"})."""
    return json.loads((Path(run_dir) / TIMINGS_FILE).read_text(encoding="utf-8"))
