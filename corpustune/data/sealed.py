"""Digest-checked reuse: whatever the pipeline reads back instead of recomputing carries a seal.

A seal records what was written: the sha256 and byte size of a file, and the shape of what it
holds (an embedding matrix: rows x dimension). Three forms, one rule:

- a file: its seal is the sidecar `<name>.seal.json` (an embedding-cache entry);
- a folder: `SEAL.json` inside it names every file's seal (a training checkpoint);
- a line of a JSONL log: the field `"c"`, a digest of the line's other fields (a teacher score).

On read, an entry whose bytes, size or shape differ from its seal, that has no seal, or that
fails to load is bad: it is named in a logging warning, moved aside (`<name>.corrupt`; bad log
lines are appended to `<log>.corrupt`) and treated as absent, so the caller computes it again.
Nothing damaged is used, and nothing damaged stops a run with a traceback or fails again later.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from corpustune.data.atomic import atomic_open, write_json_atomic
from corpustune.pipeline.fingerprint import hash_file, sha256_text

logger = logging.getLogger(__name__)

SEAL_SUFFIX = ".seal.json"
FOLDER_SEAL = "SEAL.json"
CORRUPT_SUFFIX = ".corrupt"
RECORD_CHECK = "c"
T = TypeVar("T")


@dataclass(frozen=True)
class Seal:
    """What a sealed file held when written: sha256 hex of its bytes, its size in bytes, and the
    shape of its content (None where the content has no shape)."""

    sha256: str
    size: int
    shape: tuple[int, ...] | None = None

    @classmethod
    def of(cls, path: Path, shape: tuple[int, ...] | None = None) -> Seal:
        """The seal of the file `path` as it is now."""
        return cls(hash_file(path), path.stat().st_size, None if shape is None else tuple(shape))

    @classmethod
    def from_json(cls, data: Any) -> Seal:
        """A seal from its JSON form; ValueError when `data` is not one."""
        try:
            shape = data["shape"]
            return cls(str(data["sha256"]), int(data["size"]), None if shape is None else tuple(int(n) for n in shape))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a seal ({error})") from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"shape": None if self.shape is None else list(self.shape)}


def seal_path(path: Path) -> Path:
    return path.with_name(path.name + SEAL_SUFFIX)


def seal_file(path: str | os.PathLike, shape: tuple[int, ...] | None = None) -> Seal:
    """Seal a complete file (written atomically before): its sidecar names its digest and shape."""
    path = Path(path)
    seal = Seal.of(path, shape)
    write_json_atomic(seal_path(path), seal.to_json())
    return seal


def _mismatch(path: Path, seal: Seal, shape: tuple[int, ...] | None) -> str | None:
    """Why `path` is not what `seal` records (None when it is); `shape` is the expected shape."""
    if shape is not None and seal.shape != tuple(shape):
        return f"it holds shape {seal.shape}, expected {tuple(shape)}"
    size = path.stat().st_size
    if size != seal.size:
        return f"it has {size} bytes, {seal.size} when written (truncated or extended)"
    if hash_file(path) != seal.sha256:
        return "its bytes differ from the sha256 recorded when it was written (edited or damaged)"
    return None


def file_problem(path: str | os.PathLike, shape: tuple[int, ...] | None = None) -> str | None:
    """Why the existing file `path` cannot be trusted, or None when it matches its seal (and the
    seal's shape is `shape`, when given)."""
    path = Path(path)
    try:
        seal = Seal.from_json(json.loads(seal_path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return f"it has no seal {seal_path(path).name} (written by an older corpustune, or the seal was lost)"
    except (ValueError, UnicodeDecodeError) as error:
        return f"its seal {seal_path(path).name} is damaged ({error})"
    return _mismatch(path, seal, shape)


def seal_folder(folder: str | os.PathLike) -> None:
    """Seal every file of a complete folder (before it is renamed into place) in `folder/SEAL.json`."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != FOLDER_SEAL)
    write_json_atomic(folder / FOLDER_SEAL, {"files": {p.relative_to(folder).as_posix(): Seal.of(p).to_json()
                                                       for p in files}})


def folder_problem(folder: str | os.PathLike) -> str | None:
    """Why `folder` cannot be trusted (a file missing, added, or differing from `SEAL.json`), or
    None when every file matches the seal."""
    folder = Path(folder)
    try:
        listed = json.loads((folder / FOLDER_SEAL).read_text(encoding="utf-8"))["files"]
        seals = {name: Seal.from_json(data) for name, data in listed.items()}
    except FileNotFoundError:
        return f"it has no seal {FOLDER_SEAL} (written by an older corpustune, or the seal was lost)"
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
        return f"its seal {FOLDER_SEAL} is damaged ({error})"
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != FOLDER_SEAL}
    for name in sorted(set(seals) | present):
        if name not in present:
            return f"{name} is missing"
        if name not in seals:
            return f"{name} was not there when it was written"
        problem = _mismatch(folder / name, seals[name], None)
        if problem is not None:
            return f"{name}: {problem}"
    return None


def quarantine(path: str | os.PathLike, reason: str, then: str) -> Path:
    """Move a bad file (with its seal) or folder aside as `<name>.corrupt`, replacing an older one,
    and warn naming it, `reason` and what happens `then`; returns where it went."""
    path = Path(path)
    target = path.with_name(path.name + CORRUPT_SUFFIX)
    for old in (target, seal_path(target)):
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
    if seal_path(path).exists():
        os.replace(seal_path(path), seal_path(target))
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another process (a rank of the same run) moved it aside first
        return target
    logger.warning("%s: %s; moved aside to %s, %s", path, reason, target.name, then)
    return target


def read_sealed(path: str | os.PathLike, load: Callable[[Path], T], *, shape: tuple[int, ...] | None = None,
                then: str = "computing it again") -> T | None:
    """`load(path)` when the file exists and matches its seal (and `shape`); None when it is absent
    or bad, a bad one moved aside with a warning (see `quarantine`)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        problem = file_problem(path, shape)
    except FileNotFoundError:  # absent, or moved aside by another process meanwhile
        return None
    if problem is None:
        try:
            return load(path)
        except Exception as error:  # the seal matched, yet it does not load: treat it as damaged all the same
            problem = f"it cannot be read ({type(error).__name__}: {error})"
    quarantine(path, problem, then)
    return None


def record_check(fields: Mapping[str, Any]) -> str:
    """Digest of a log record's fields (the check field left out): 16 hex characters."""
    payload = {k: v for k, v in fields.items() if k != RECORD_CHECK}
    # not `canonical_json`: a damaged line may hold NaN, which must fail the check, not raise
    return sha256_text(json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False))[:16]


def sealed_record(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` with its check added, ready to append to a log."""
    return {**fields, RECORD_CHECK: record_check(fields)}


def record_intact(record: Mapping[str, Any]) -> bool:
    """Whether a log record read back still matches its check (False when it has none)."""
    return record.get(RECORD_CHECK) == record_check(record)


def read_sealed_log(path: str | os.PathLike, valid: Callable[[dict[str, Any]], bool] = lambda record: True
                    ) -> tuple[list[dict[str, Any]], list[int]]:
    """The records of a log written with `sealed_record` that match their check and satisfy
    `valid`, and the numbers (1-based) of the other lines: not JSON objects, no or a wrong check.
    Blank lines and a torn (unterminated) last line, left by a killed writer, are neither."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    if not path.exists():
        return records, bad
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n") or not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                record = None
            if isinstance(record, dict) and record_intact(record) and valid(record):
                records.append(record)
            else:
                bad.append(number)
    return records, bad


def quarantine_lines(path: str | os.PathLike, bad: Iterable[int], reason: str, then: str) -> None:
    """Move the lines numbered `bad` (1-based) of the log `path` to `<log>.corrupt` (appended) and
    rewrite the log without them, atomically; warn naming the log, the lines and `reason`. The
    log must not be open for appending meanwhile."""
    path = Path(path)
    bad = sorted(set(bad))
    if not bad:
        return
    lines = path.read_bytes().splitlines(keepends=True)
    wanted = set(bad)
    with open(path.with_name(path.name + CORRUPT_SUFFIX), "ab") as aside:
        aside.writelines(line if line.endswith(b"\n") else line + b"\n"
                         for number, line in enumerate(lines, start=1) if number in wanted)
    with atomic_open(path, "wb") as handle:
        handle.writelines(line for number, line in enumerate(lines, start=1) if number not in wanted)
    shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
    logger.warning("%s: line%s %s: %s; moved aside to %s, %s", path, "s" if len(bad) > 1 else "", shown, reason,
                   path.name + CORRUPT_SUFFIX, then)
