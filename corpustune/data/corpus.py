"""Streaming corpus readers: BEIR folders, JSONL, CSV/TSV, Parquet and folders of text files
(with the `docs` extra also PDF, HTML and DOCX files: `corpustune.data.documents`).

Every reader yields `Passage` records one at a time, so a corpus never has to fit in memory as
text. What is skipped (empty texts, documents that yield no text) is counted in a `ReadReport`;
everything else that is wrong raises `InputError` naming the file, the line or record, and the fix.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from corpustune.data.documents import DOCUMENT_SUFFIXES, REASONS, BadFile, document_passages
from corpustune.data.lines import iter_jsonl, iter_text_lines
from corpustune.data.records import Passage
from corpustune.errors import InputError, require_extra

CorpusFormat = Literal["auto", "beir", "jsonl", "csv", "tsv", "parquet", "textdir"]
TEXT_SUFFIXES = (".txt", ".md")
MAX_REPORTED = 5


class CorpusSpec(BaseModel):
    """Where a corpus lives and how to read it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    path: Path
    format: CorpusFormat = "auto"
    id_field: str | None = None
    """Field holding the id; by default `_id`, else `id`."""
    title_field: str = "title"
    text_field: str = "text"
    chunk_words: int = 200
    """Text folders: files longer than this many whitespace tokens are split into passages."""
    chunk_overlap: int = 40
    """Text folders: whitespace tokens shared by consecutive passages of one file."""


@dataclass
class ReadReport:
    """What a read kept and skipped; filled while the reader is consumed."""

    kept: int = 0
    skipped_empty: int = 0
    skipped_empty_examples: list[str] = field(default_factory=list)
    bad_files: list[BadFile] = field(default_factory=list)
    """Documents of a text folder that yield no text, each with its reason."""

    def skip_empty(self, where: str) -> None:
        self.skipped_empty += 1
        if len(self.skipped_empty_examples) < MAX_REPORTED:
            self.skipped_empty_examples.append(where)

    def summary(self) -> str:
        text = f"{self.kept:,} passages read"
        if self.skipped_empty:
            text += (
                f"; {self.skipped_empty:,} skipped because their text is empty "
                f"(first: {', '.join(self.skipped_empty_examples)})"
            )
        if self.bad_files:
            text += f"; {len(self.bad_files):,} files yield no text ({self.bad_counts_text()})"
        return text

    def bad_counts(self) -> dict[str, int]:
        """Bad files per reason key, in the order of `documents.REASONS`."""
        counts = {reason: sum(f.reason == reason for f in self.bad_files) for reason in REASONS}
        return {reason: count for reason, count in counts.items() if count}

    def bad_counts_text(self) -> str:
        return ", ".join(f"{count} {reason}" for reason, count in self.bad_counts().items())


def detect_format(path: Path) -> CorpusFormat:
    """Guess the format from the path: a BEIR folder, a text folder, or a file suffix."""
    if path.is_dir():
        return "beir" if (path / "corpus.jsonl").exists() else "textdir"
    suffix = path.suffix.lower()
    formats = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
    if suffix not in formats:
        raise InputError(
            f"{path}: cannot tell the corpus format from the suffix {suffix!r}; use a BEIR folder, "
            f"a folder of .txt/.md files, or a .jsonl/.csv/.tsv/.parquet file, or pass --format"
        )
    return formats[suffix]  # type: ignore[return-value]


def iter_passages(spec: CorpusSpec, report: ReadReport | None = None) -> Iterator[Passage]:
    """Stream the corpus as passages, checking ids for duplicates.

    Duplicate ids are collected over the whole file and raised together at the end (the first
    few are listed), so one read finds them all.
    """
    if not spec.path.exists():
        raise InputError(f"{spec.path}: no such file or folder; pass the path of a corpus")
    report = report if report is not None else ReadReport()
    form = detect_format(spec.path) if spec.format == "auto" else spec.format
    readers = {
        "beir": _read_beir,
        "jsonl": _read_jsonl,
        "csv": _read_delimited,
        "tsv": _read_delimited,
        "parquet": _read_parquet,
        "textdir": _read_textdir,
    }
    seen: set[str] = set()
    duplicates: list[str] = []
    duplicate_count = 0
    for where, passage in readers[form](spec, form):
        if isinstance(passage, BadFile):
            report.bad_files.append(passage)
            continue
        if not passage.text.strip():
            report.skip_empty(where)
            continue
        if passage.id in seen:
            duplicate_count += 1
            if len(duplicates) < MAX_REPORTED:
                duplicates.append(f"{passage.id!r} ({where})")
            continue
        seen.add(passage.id)
        report.kept += 1
        yield passage
    if duplicate_count:
        raise InputError(
            f"{spec.path}: {duplicate_count:,} records repeat an id used earlier; first: "
            f"{', '.join(duplicates)}. Ids must be unique: remove or rename the repeated records"
        )


def read_passages(spec: CorpusSpec, report: ReadReport | None = None) -> list[Passage]:
    """The whole corpus as a list (for stages that index it anyway)."""
    return list(iter_passages(spec, report))


def corpus_digest(passages: Iterable[Passage]) -> str:
    """sha256 hex of the corpus as read (ids, titles and texts, in order).

    It changes exactly when the passages change: an edited file, or a reading setting (format,
    field names, chunking) that makes other passages; not when a file moves or a setting that
    has no effect on this corpus changes.
    """
    digest = hashlib.sha256()
    for passage in passages:
        for part in (passage.id, passage.title, passage.text):
            digest.update(part.encode("utf-8"))
            digest.update(b"\0")
    return digest.hexdigest()


def _record_to_passage(record: dict[str, Any], spec: CorpusSpec, where: str) -> Passage:
    id_fields = [spec.id_field] if spec.id_field else ["_id", "id"]
    identifier = next((record[f] for f in id_fields if record.get(f) not in (None, "")), None)
    if identifier is None:
        raise InputError(
            f"{where}: record has no id (looked for {' or '.join(map(repr, id_fields))}; fields: "
            f"{sorted(record)}); add an id or name the id field with --id-field"
        )
    text = record.get(spec.text_field)
    if text is None:
        raise InputError(
            f"{where}: record {identifier!r} has no {spec.text_field!r} field (fields: {sorted(record)}); "
            f"add the text or name the text field with --text-field"
        )
    title = record.get(spec.title_field) or ""
    return Passage(id=str(identifier), text=str(text), title=str(title))


def _read_beir(spec: CorpusSpec, _form: str) -> Iterator[tuple[str, Passage]]:
    yield from _read_jsonl(spec.model_copy(update={"path": spec.path / "corpus.jsonl"}), "jsonl")


def _read_jsonl(spec: CorpusSpec, _form: str) -> Iterator[tuple[str, Passage]]:
    for number, record in iter_jsonl(spec.path):
        where = f"{spec.path}: line {number}"
        yield where, _record_to_passage(record, spec, where)


def _read_delimited(spec: CorpusSpec, form: str) -> Iterator[tuple[str, Passage]]:
    lines = (line for _, line in iter_text_lines(spec.path, keep_newline=True))
    reader = csv.DictReader(lines, delimiter="\t" if form == "tsv" else ",")
    for record in reader:
        where = f"{spec.path}: line {reader.line_num}"
        if None in record:
            raise InputError(
                f"{where}: more fields than the header has columns; quote fields that contain the delimiter"
            )
        yield where, _record_to_passage(record, spec, where)


def _read_parquet(spec: CorpusSpec, _form: str) -> Iterator[tuple[str, Passage]]:
    parquet = require_extra("pyarrow.parquet", "parquet")
    row = 0
    for batch in parquet.ParquetFile(spec.path).iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            yield f"{spec.path}: row {row}", _record_to_passage(record, spec, f"{spec.path}: row {row}")
            row += 1


def _read_textdir(spec: CorpusSpec, _form: str) -> Iterator[tuple[str, Passage | BadFile]]:
    if spec.chunk_overlap >= spec.chunk_words:
        raise InputError(
            f"chunk_overlap ({spec.chunk_overlap}) must be smaller than chunk_words ({spec.chunk_words})"
        )
    suffixes = TEXT_SUFFIXES + DOCUMENT_SUFFIXES
    files = sorted(p for p in spec.path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    for file in files:
        relative = file.relative_to(spec.path).as_posix()
        if file.suffix.lower() in DOCUMENT_SUFFIXES:
            yield from document_passages(file, relative, spec.chunk_words, spec.chunk_overlap)
            continue
        text = "".join(line for _, line in iter_text_lines(file, keep_newline=True))
        chunks = split_words(text, spec.chunk_words, spec.chunk_overlap)
        if len(chunks) <= 1:
            yield relative, Passage(id=relative, text=text.strip())
            continue
        for index, chunk in enumerate(chunks):
            identifier = f"{relative}#{index}"
            yield identifier, Passage(id=identifier, text=chunk)


def split_words(text: str, size: int, overlap: int) -> list[str]:
    """Split text into windows of at most `size` whitespace tokens, consecutive windows sharing
    `overlap` tokens; the last window ends at the end of the text."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    step = size - overlap
    starts = range(0, len(words) - overlap, step)
    return [" ".join(words[start : start + size]) for start in starts]
