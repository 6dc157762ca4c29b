"""Line-by-line reading of text files with errors that name the file, line and byte offset."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corpustune.errors import InputError

BYTE_ORDER_MARK = "\ufeff"


def iter_text_lines(path: str | os.PathLike, keep_newline: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, decoded line), streaming; the newline is stripped unless asked.

    A UTF-8 byte order mark at the start of the file (Excel's "CSV UTF-8") is dropped. Raises
    InputError naming the file, line and absolute byte offset of the first byte that is not
    valid UTF-8.
    """
    path = Path(path)
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"{path}: line {number}: byte offset {offset + error.start} is not valid UTF-8 "
                    f"(byte 0x{raw[error.start]:02x}); re-encode the file as UTF-8, for example with "
                    f"`iconv -f latin1 -t utf-8`"
                ) from None
            offset += len(raw)
            if number == 1:
                line = line.removeprefix(BYTE_ORDER_MARK)
            yield number, line if keep_newline else line.rstrip("\r\n")


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line of a JSONL file, streaming.

    Raises InputError naming the file and line for malformed JSON or a line that is not an object.
    """
    for number, line in iter_text_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(
                f"{path}: line {number}: malformed JSON ({error.msg} at column {error.colno}); "
                f"each line must be one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise InputError(
                f"{path}: line {number}: expected a JSON object, got {type(record).__name__}"
            )
        yield number, record
