"""Reading a corpus: BEIR folders, JSONL, CSV/TSV, Parquet and folders of text files (with the
`docs` extra also PDF, HTML and DOCX files: `corpustune.data.documents`); the format readers
themselves are in `corpustune.data.readers`, this module detects the format, checks ids and counts.

Every reader yields `Passage` records one at a time, so a corpus never has to fit in memory as
text. What is skipped (empty or null texts, and texts without a visible character, `data.visible`;
in a text folder, entries not read: hidden files and folders, symbolic links, run folders, files
of other types; and documents that yield no text: encrypted, no text layer, unreadable,
no-access, no text) is counted in a `ReadReport`; everything else that is wrong
raises `InputError` naming the file, the line or record, and the fix, and so does a corpus that
yields no passage at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from corpustune.data.beir import beir_file
from corpustune.data.lines import COMPRESSED_SUFFIXES
from corpustune.data.readers import FOLDER_FILES, FOLDER_SUFFIXES, READERS, out_is_corpus_message
from corpustune.data.records import Passage
from corpustune.data.skipped import NOT_READ, WITHOUT_TEXT, SkippedFile, counts_text, skip_counts
from corpustune.data.visible import has_visible_text
from corpustune.errors import InputError
from corpustune.plural import counted

CorpusFormat = Literal["auto", "beir", "jsonl", "csv", "tsv", "parquet", "textdir"]
MAX_REPORTED = 5
ID_FORBIDDEN = {"\t": "a tab", "\n": "a line break", "\r": "a carriage return"}
"""Characters an id may not hold: ids are written into tab-separated qrels, one per line."""


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
    skipped_files: list[SkippedFile] = field(default_factory=list)
    """Entries of a text folder that give no passage, in reading order, each with its reason
    (`skipped.REASONS`): entries not read (hidden, symbolic links, other types) and documents
    that yield no text. One small record per entry, as for the passage ids."""

    def skip_empty(self, where: str) -> None:
        self.skipped_empty += 1
        if len(self.skipped_empty_examples) < MAX_REPORTED:
            self.skipped_empty_examples.append(where)

    def skip_file(self, entry: SkippedFile) -> None:
        self.skipped_files.append(entry)

    @property
    def ignored_files(self) -> list[SkippedFile]:
        """The entries not read: hidden, symbolic links, files of other types."""
        return [f for f in self.skipped_files if not f.read]

    @property
    def bad_files(self) -> list[SkippedFile]:
        """The documents that were read and yield no text."""
        return [f for f in self.skipped_files if f.read]

    def ignored_counts(self) -> dict[str, int]:
        return skip_counts(self.skipped_files, NOT_READ)

    def bad_counts(self) -> dict[str, int]:
        """Documents without text per reason key, in the order of `skipped.REASONS`."""
        return skip_counts(self.skipped_files, WITHOUT_TEXT)

    def skipped_summary(self) -> str:
        """E.g. "2 files yield no text (1 encrypted, 1 unreadable); ignored 1 hidden file or folder,
        3 files of other types (first: .git, a.rst, ...)"; "" if nothing was skipped."""
        parts = []
        if bad := self.bad_files:
            counts = counts_text(self.bad_counts())
            parts.append(f"{counted(len(bad), 'file yields', 'files yield')} no text ({counts})")
        if ignored := self.ignored_files:
            examples = ", ".join(f.path for f in ignored[:MAX_REPORTED])
            parts.append(f"ignored {counts_text(self.ignored_counts())} (first: {examples})")
        return "; ".join(parts)

    def summary(self) -> str:
        text = f"{counted(self.kept, 'passage')} read"
        if self.skipped_empty:
            text += (
                f"; {self.skipped_empty:,} skipped because their text is empty or has no visible character "
                f"(first: {', '.join(self.skipped_empty_examples)})"
            )
        if self.skipped_files:
            text += f"; {self.skipped_summary()}"
        return text


def detect_format(path: Path) -> CorpusFormat:
    """Guess the format from the path: a BEIR folder, a text folder, or a file suffix (the one
    before `.gz`, `.bz2` or `.xz`: a compressed file is read through its decompressor).

    A folder with `queries.jsonl` or `qrels/` but no `corpus.jsonl` is a broken BEIR folder, not
    a text folder."""
    if path.is_dir():
        if beir_file(path, "corpus.jsonl").exists():
            return "beir"
        if beir_file(path, "queries.jsonl").exists() or (path / "qrels").is_dir():
            raise InputError(
                f"{path}: has queries.jsonl or qrels/ like a BEIR folder, but no corpus.jsonl; add the corpus "
                f"file, or pass --format textdir to read the folder's {FOLDER_FILES} files"
            )
        return "textdir"
    name = path.name.lower()
    packed = next((s for s in COMPRESSED_SUFFIXES if name.endswith(s)), "")
    suffix = Path(name.removesuffix(packed)).suffix
    formats = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
    if suffix not in formats:
        if packed and not suffix:
            what = f"the name (no suffix before {packed!r})"
        else:
            what = f"the suffix {suffix!r}" + (f" before {packed!r}" if packed else "")
        raise InputError(
            f"{path}: cannot tell the corpus format from {what}; use a BEIR folder, "
            f"a folder of {FOLDER_FILES} files, or a .jsonl/.csv/.tsv/.parquet file (also compressed, e.g. "
            f"corpus.jsonl.gz), or pass --format"
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
    seen: set[str] = set()
    duplicates: list[str] = []
    duplicate_count = 0
    for where, passage in READERS[form](spec, form):
        if isinstance(passage, SkippedFile):
            report.skip_file(passage)
            continue
        if not has_visible_text(passage.text):
            report.skip_empty(where)
            continue
        _check_id(passage.id, where)
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
            f"{spec.path}: {counted(duplicate_count, 'record')} repeat{'s' if duplicate_count == 1 else ''} an id "
            f"used earlier; first: {', '.join(duplicates)}. Ids must be unique: remove or rename the repeated records"
        )
    if report.kept == 0:
        raise InputError(_nothing_read(spec, form, report))


def check_out_folder(spec: CorpusSpec, out: Path) -> None:
    """Refuse a run folder `out` that is the text folder `spec` reads: the run's reports, model
    cards and queries would be read as documents by the next command. A run folder inside the
    text folder is fine: the reader leaves it out (`readers._folder_files`)."""
    if not spec.path.is_dir() or out.resolve() != spec.path.resolve():
        return
    if (detect_format(spec.path) if spec.format == "auto" else spec.format) == "textdir":
        raise InputError(out_is_corpus_message(spec.path))


def _nothing_read(spec: CorpusSpec, form: str, report: ReadReport) -> str:
    """Why a corpus gave no passage, and what to do."""
    if form == "textdir" and (report.bad_files or report.skipped_empty):
        parts = [f"{counted(report.skipped_empty, 'file or page is', 'files or pages are')} empty "
                 f"(first: {', '.join(report.skipped_empty_examples)})"] if report.skipped_empty else []
        parts += [report.skipped_summary()] if report.skipped_files else []
        return (f"{spec.path}: no passages: {'; '.join(parts)}; fix or replace those files (`corpustune inspect "
                f"{spec.path}` lists them), or add {FOLDER_FILES} files with text")
    if form == "textdir":
        names = ", ".join(FOLDER_SUFFIXES[:-1]) + f" or {FOLDER_SUFFIXES[-1]}"
        skipped = f"; {report.skipped_summary()}" if report.skipped_files else ""
        return (f"{spec.path}: no passages: the folder has no {names} files{skipped}; "
                f"put the texts in such files, or give a BEIR folder or a .jsonl/.csv/.tsv/.parquet file")
    if report.skipped_empty:
        return (f"{spec.path}: no passages: every record's {spec.text_field!r} is empty "
                f"({counted(report.skipped_empty, 'record')}, first: {', '.join(report.skipped_empty_examples)}); "
                f"name the field that holds the text with --text-field")
    return f"{spec.path}: no passages: the file holds no records; a corpus needs at least one passage"


def _check_id(identifier: str, where: str) -> None:
    """Reject an id that holds a character a qrels line cannot carry."""
    for character, name in ID_FORBIDDEN.items():
        if character in identifier:
            raise InputError(
                f"{where}: id {identifier!r} contains {name}, which cannot be written into a qrels file; "
                f"remove it from the id"
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
