"""Line-by-line reading of text files with errors that name the file, line and byte offset.

A file compressed with gzip, bzip2 or xz (told by its first bytes, whatever its name) is read
through the decompressor, streaming; a zip or zstd file, which the standard library cannot
stream as one text, is named as such with the command that unpacks it.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from corpustune.errors import InputError

BYTE_ORDER_MARK = "\ufeff"
COMPRESSIONS: dict[bytes, tuple[str, Callable[[Path], IO[bytes]]]] = {
    b"\x1f\x8b": ("gzip", gzip.open), b"BZh": ("bzip2", bz2.open), b"\xfd7zXZ\x00": ("xz", lzma.open),
}
"""First bytes -> (name, opener) of the compressions read transparently."""
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
PACKED = {b"PK\x03\x04": ("a zip archive", "unzip it"), b"\x28\xb5\x2f\xfd": ("zstd-compressed", "run `unzstd` on it")}
"""First bytes -> (what the file is, how to unpack it) of the formats that are refused."""
DECOMPRESSION_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)
"""What the decompressors raise on a damaged or truncated stream (gzip.BadGzipFile is an OSError)."""


def _compression_magic(path: str | os.PathLike) -> bytes | None:
    """The key of `COMPRESSIONS` that the file starts with; InputError for a zip or zstd file."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    for magic, (what, fix) in PACKED.items():
        if head.startswith(magic):
            raise InputError(f"{path}: is {what}, not a text file; {fix} and pass the file inside")
    return next((magic for magic in COMPRESSIONS if head.startswith(magic)), None)


def compression(path: str | os.PathLike) -> str | None:
    """"gzip", "bzip2" or "xz" when the file starts like one (`COMPRESSIONS`), else None."""
    magic = _compression_magic(path)
    return None if magic is None else COMPRESSIONS[magic][0]


@contextmanager
def open_binary(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed when it is gzip, bzip2 or xz; InputError for a zip or zstd file."""
    magic = _compression_magic(path)
    opener = open if magic is None else COMPRESSIONS[magic][1]
    with opener(Path(path), "rb") as handle:  # type: ignore[operator]
        yield handle


def iter_text_lines(path: str | os.PathLike, keep_newline: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, decoded line), streaming; the newline is stripped unless asked.

    A compressed file is decompressed on the fly (`open_binary`); a UTF-8 byte order mark at the
    start of the text (Excel's "CSV UTF-8") is dropped. Raises InputError naming the file, line and
    absolute byte offset (in the decompressed text) of the first byte that is not valid UTF-8, and
    for a damaged or truncated compressed file.
    """
    path = Path(path)
    offset = 0
    with open_binary(path) as handle:
        lines = enumerate(handle, start=1)
        while True:
            try:
                number, raw = next(lines)
            except StopIteration:
                return
            except DECOMPRESSION_ERRORS as error:
                kind = compression(path)
                if kind is None:  # an error of the plain file itself: the caller decides
                    raise
                raise InputError(f"{path}: the {kind} stream is damaged or truncated after "
                                 f"{offset:,} bytes of text ({error}); compress the file again, or give it "
                                 f"uncompressed") from None
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
