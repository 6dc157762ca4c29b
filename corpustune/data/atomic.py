"""Crash-safe file writes: a killed process leaves either the old file or the new one, never half.

Whole files go through a temporary sibling and `os.replace`; JSONL logs are appended line by line
with a flush + fsync per batch, and a reader ignores a torn last line (see `read_jsonl_log`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from corpustune.errors import InputError


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to `path`; on success it replaces `path` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    binary = "b" in mode
    try:
        with os.fdopen(descriptor, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Write all records as one JSONL file atomically; returns the number of lines."""
    count = 0
    with atomic_open(path, "w") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


class JsonlAppender:
    """Append records to a JSONL log, durable after each `append_many` call.

    Used for incremental results (generated queries, teacher scores): a crash loses at most the
    batch in flight, and a torn final line is skipped by `read_jsonl_log`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(self.path)
        self._handle = open(self.path, "a", encoding="utf-8")

    def append_many(self, records: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if text:
            self._handle.write(text)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _truncate_torn_tail(path: Path) -> None:
    """Cut a partial last line (no trailing newline) left by a killed writer."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return
    with open(path, "rb+") as handle:
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            chunk = handle.read(end - start)
            if end == size and chunk.endswith(b"\n"):
                return
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return
            end = start
        handle.truncate(0)


def read_jsonl_log(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Read a log written by `JsonlAppender`; a torn (unterminated) last line is ignored, any other
    line that is not a JSON object raises InputError naming the file, the line and the fix."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                return
            if line.strip():
                yield _log_record(path, number, line)


def _log_record(path: Path, number: int, line: bytes) -> dict[str, Any]:
    """One line of a log as a JSON object, or InputError naming the damaged line."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        record = None
    if not isinstance(record, dict):
        raise InputError(
            f"{path}: line {number} is damaged (not a JSON object in UTF-8); delete or repair that line (a line of "
            f"a cache in RUN/cache/ only holds finished work, which is then done again)"
        )
    return record
