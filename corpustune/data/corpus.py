"""Streaming corpus readers: BEIR folders, JSONL, CSV/TSV, Parquet and folders of text files
(with the `docs` extra also PDF, HTML and DOCX files: `corpustune.data.documents`).

Every reader yields `Passage` records one at a time, so a corpus never has to fit in memory as
text. What is skipped (empty or null texts; in a text folder, entries not read: hidden files and
folders, symbolic links, files of other types; and documents that yield no text: encrypted, no
text layer, unreadable, no text) is counted in a `ReadReport`; everything else that is wrong
raises `InputError` naming the file, the line or record, and the fix, and so does a corpus that
yields no passage at all.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from corpustune.data.documents import DOCUMENT_SUFFIXES, document_passages
from corpustune.data.lines import iter_jsonl, iter_text_lines
from corpustune.data.records import Passage
from corpustune.data.skipped import NOT_READ, WITHOUT_TEXT, SkippedFile, counts_text, skip_counts
from corpustune.errors import InputError, require_extra
from corpustune.plural import counted

CorpusFormat = Literal["auto", "beir", "jsonl", "csv", "tsv", "parquet", "textdir"]
TEXT_SUFFIXES = (".txt", ".md")
FOLDER_SUFFIXES = TEXT_SUFFIXES + DOCUMENT_SUFFIXES
"""The files a text folder's reader reads: text files, and PDF/HTML/DOCX with the docs extra."""
FOLDER_FILES = "/".join(FOLDER_SUFFIXES)
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
                f"; {self.skipped_empty:,} skipped because their text is empty "
                f"(first: {', '.join(self.skipped_empty_examples)})"
            )
        if self.skipped_files:
            text += f"; {self.skipped_summary()}"
        return text


def detect_format(path: Path) -> CorpusFormat:
    """Guess the format from the path: a BEIR folder, a text folder, or a file suffix.

    A folder with `queries.jsonl` or `qrels/` but no `corpus.jsonl` is a broken BEIR folder, not
    a text folder."""
    if path.is_dir():
        if (path / "corpus.jsonl").exists():
            return "beir"
        if (path / "queries.jsonl").exists() or (path / "qrels").is_dir():
            raise InputError(
                f"{path}: has queries.jsonl or qrels/ like a BEIR folder, but no corpus.jsonl; add the corpus "
                f"file, or pass --format textdir to read the folder's {FOLDER_FILES} files"
            )
        return "textdir"
    suffix = path.suffix.lower()
    formats = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
    if suffix not in formats:
        raise InputError(
            f"{path}: cannot tell the corpus format from the suffix {suffix!r}; use a BEIR folder, "
            f"a folder of {FOLDER_FILES} files, or a .jsonl/.csv/.tsv/.parquet file, or pass --format"
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
        if isinstance(passage, SkippedFile):
            report.skip_file(passage)
            continue
        if not passage.text.strip():
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


def _record_to_passage(record: dict[str, Any], spec: CorpusSpec, where: str) -> Passage:
    """A record as a Passage. The id must be text or an integer, the text and title text (a null
    text counts as empty, a null title as none); anything else is an error naming the record."""
    id_fields = [spec.id_field] if spec.id_field else ["_id", "id"]
    id_field = next((f for f in id_fields if record.get(f) not in (None, "")), None)
    if id_field is None:
        raise InputError(
            f"{where}: record has no id (looked for {' or '.join(map(repr, id_fields))}; fields: "
            f"{sorted(record)}); add an id or name the id field with --id-field"
        )
    identifier = record[id_field]
    if isinstance(identifier, bool) or not isinstance(identifier, str | int):
        raise InputError(
            f"{where}: the id {identifier!r} ({id_field!r}) is {_kind(identifier)}; an id must be text or an "
            f"integer: fix the record or name another id field with --id-field"
        )
    if spec.text_field not in record:
        raise InputError(
            f"{where}: record {identifier!r} has no {spec.text_field!r} field (fields: {sorted(record)}); "
            f"add the text or name the text field with --text-field"
        )
    text, title = record[spec.text_field], record.get(spec.title_field)
    for name, value in ((spec.text_field, text), (spec.title_field, title)):
        if value is not None and not isinstance(value, str):
            raise InputError(
                f"{where}: record {identifier!r} has {_kind(value)} as its {name!r} field; it must be text: "
                f"fix the record, or name the right field with --text-field / --title-field"
            )
    return Passage(id=str(identifier), text=text or "", title=title or "")


def _kind(value: Any) -> str:
    """`a list`, `a number`, ... for messages about a field of the wrong type."""
    kinds = {bool: "a boolean", int: "a number", float: "a decimal number", list: "a list", dict: "an object"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), f"a {type(value).__name__}")


def _read_beir(spec: CorpusSpec, _form: str) -> Iterator[tuple[str, Passage]]:
    corpus = spec.path / "corpus.jsonl"
    if not corpus.is_file():
        raise InputError(f"{corpus}: not found; a BEIR folder holds its passages in corpus.jsonl")
    yield from _read_jsonl(spec.model_copy(update={"path": corpus}), "jsonl")


def _read_jsonl(spec: CorpusSpec, _form: str) -> Iterator[tuple[str, Passage]]:
    for number, record in iter_jsonl(spec.path):
        where = f"{spec.path}: line {number}"
        yield where, _record_to_passage(record, spec, where)


def _read_delimited(spec: CorpusSpec, form: str) -> Iterator[tuple[str, Passage]]:
    """CSV with RFC 4180 quoting (a quote left open is an error naming the line where it opened);
    TSV literally, without quoting (a field holds no tab or line break; quotes are text)."""
    lines = (line for _, line in iter_text_lines(spec.path, keep_newline=True))
    if form == "tsv":
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(lines, delimiter=",", strict=True)
    header = None
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InputError(_quote_problem(spec.path, first_line, error)) from None
        if header is None:
            header = [name.strip() for name in row]
            _check_header(spec.path, header, form)
            continue
        where = f"{spec.path}: line {first_line}"
        if row and len(row) != len(header):
            raise InputError(_width_problem(where, header, row, form))
        if row:
            yield where, _record_to_passage(dict(zip(header, row)), spec, where)


def _check_header(path: Path, header: list[str], form: str) -> None:
    """A header of one column that holds another delimiter: the file is separated by something else."""
    others = [name for mark, name in ((";", "semicolons"), ("\t", "tabs"), (",", "commas"), ("|", "bars"))
              if len(header) == 1 and mark in header[0]]
    if others:
        expected = "tabs (TSV)" if form == "tsv" else "commas (CSV)"
        raise InputError(
            f"{path}: line 1: the header {header[0]!r} is one column when split at {expected}; the file seems "
            f"separated by {others[0]}: convert it to a .csv separated by commas or a .tsv separated by tabs"
        )


def _quote_problem(path: Path, line: int, error: csv.Error) -> str:
    if "unexpected end of data" in str(error):
        return (f"{path}: line {line}: a quoted field that starts on this line is never closed; close the "
                f"quote, or write a quote inside a field as two quotes in a quoted field (\"a \"\"b\"\" c\")")
    return (f"{path}: line {line}: malformed CSV quoting ({error}); a field with quotes must be quoted as a "
            f"whole, with each quote inside it doubled (\"a \"\"b\"\" c\")")


def _width_problem(where: str, header: list[str], row: list[str], form: str) -> str:
    """Too many or too few fields; a header of one column hints at another delimiter."""
    delimiter = "tab" if form == "tsv" else "comma"
    if len(header) == 1:
        return (f"{where}: {len(row)} fields but the header {header[0]!r} has one column; the file is read as "
                f"{delimiter}-separated ({form.upper()}): use a .csv file separated by commas or a .tsv file "
                f"separated by tabs (or pass --format)")
    if len(row) > len(header):
        fix = ("quote fields that contain a comma" if form == "csv"
               else "a TSV field cannot hold a tab; remove the tabs inside fields")
    else:
        fix = "give every column a field (an empty field is two delimiters in a row)" + (
            "; a TSV field cannot hold a line break either" if form == "tsv" else "")
    return f"{where}: {len(row)} fields but the header has {len(header)} columns ({', '.join(header)}); {fix}"


def _read_parquet(spec: CorpusSpec, _form: str) -> Iterator[tuple[str, Passage]]:
    parquet = require_extra("pyarrow.parquet", "parquet")
    import pyarrow

    row = 0
    try:
        batches = parquet.ParquetFile(spec.path).iter_batches(batch_size=4096)
        for batch in batches:
            for record in batch.to_pylist():
                yield f"{spec.path}: row {row}", _record_to_passage(record, spec, f"{spec.path}: row {row}")
                row += 1
    except (pyarrow.ArrowException, OSError) as error:
        raise InputError(f"{spec.path}: not a readable Parquet file ({error}); rewrite it, e.g. with "
                         f"pandas.DataFrame.to_parquet") from None


def _read_textdir(spec: CorpusSpec, _form: str) -> Iterator[tuple[str, Passage | SkippedFile]]:
    if spec.chunk_overlap >= spec.chunk_words:
        raise InputError(
            f"chunk_overlap ({spec.chunk_overlap}) must be smaller than chunk_words ({spec.chunk_words})"
        )
    for file in _folder_files(spec.path, spec.path):
        if isinstance(file, SkippedFile):
            yield file.path, file
            continue
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


def _folder_files(folder: Path, root: Path) -> Iterator[Path | SkippedFile]:
    """The files under `folder` that the reader reads (`FOLDER_SUFFIXES`) in path order, and a
    `SkippedFile` for every entry left out: hidden files and folders (not entered), symbolic links
    (not followed), files of other types."""
    for entry in sorted(folder.iterdir()):
        relative = entry.relative_to(root).as_posix()
        if entry.name.startswith("."):
            yield SkippedFile(relative, "hidden")
        elif entry.is_symlink():
            yield SkippedFile(relative, "link")
        elif entry.is_dir():
            yield from _folder_files(entry, root)
        elif entry.suffix.lower() in FOLDER_SUFFIXES:
            yield entry
        else:
            yield SkippedFile(relative, "type")


def split_words(text: str, size: int, overlap: int) -> list[str]:
    """Split text into windows of at most `size` whitespace tokens, consecutive windows sharing
    `overlap` tokens; the last window ends at the end of the text."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    step = size - overlap
    starts = range(0, len(words) - overlap, step)
    return [" ".join(words[start : start + size]) for start in starts]
