"""One reader per corpus format: each turns its file or folder into `(where, Passage)` pairs.

`where` names the file and line, row or path of the record, for the messages of
`corpus.iter_passages` (empty texts, bad or repeated ids). A text folder also yields
`(path, SkippedFile)` for every entry that gives no passage. Everything else that is wrong raises
`InputError` naming the file, the line or record, and the fix.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpustune.data.chunking import split_words
from corpustune.data.documents import DOCUMENT_SUFFIXES, document_passages
from corpustune.data.beir import beir_file
from corpustune.data.lines import compression, iter_jsonl, iter_text_lines
from corpustune.data.records import Passage
from corpustune.data.skipped import SkippedFile, os_error_text
from corpustune.errors import InputError, require_extra
from corpustune.layout import is_run_folder

if TYPE_CHECKING:
    from corpustune.data.corpus import CorpusSpec

TEXT_SUFFIXES = (".txt", ".md")
FOLDER_SUFFIXES = TEXT_SUFFIXES + DOCUMENT_SUFFIXES
"""The files a text folder's reader reads: text files, and PDF/HTML/DOCX with the docs extra."""
FOLDER_FILES = "/".join(FOLDER_SUFFIXES)


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
    corpus = beir_file(spec.path, "corpus.jsonl")
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

    if kind := compression(spec.path):
        raise InputError(f"{spec.path}: is {kind}-compressed; a Parquet file compresses inside itself and is read "
                         f"as it is: decompress it first")
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
    if is_run_folder(spec.path):
        raise InputError(out_is_corpus_message(spec.path))
    for file in _folder_files(spec.path, spec.path):
        if isinstance(file, SkippedFile):
            yield file.path, file
            continue
        relative = file.relative_to(spec.path).as_posix()
        if file.suffix.lower() in DOCUMENT_SUFFIXES:
            yield from document_passages(file, relative, spec.chunk_words, spec.chunk_overlap)
            continue
        try:
            text = "".join(line for _, line in iter_text_lines(file, keep_newline=True))
        except OSError as error:  # no permission, an I/O error, not a regular file: this file only
            yield relative, SkippedFile(relative, "no-access", os_error_text(error))
            continue
        chunks = split_words(text, spec.chunk_words, spec.chunk_overlap)
        if len(chunks) <= 1:
            yield relative, Passage(id=relative, text=text.strip())
            continue
        for index, chunk in enumerate(chunks):
            identifier = f"{relative}#{index}"
            yield identifier, Passage(id=identifier, text=chunk)


def out_is_corpus_message(folder: Path) -> str:
    """Why a text folder that is (or will be) the run folder is refused, and the fix."""
    return (f"{folder}: is the run folder (--out) as well as the corpus folder (--data), so the run's reports, "
            f"model cards and queries would be read as documents; give a run folder outside the corpus folder or "
            f"inside it (a run folder inside is left out of the corpus)")


def _folder_files(folder: Path, root: Path) -> Iterator[Path | SkippedFile]:
    """The files under `folder` that the reader reads (`FOLDER_SUFFIXES`) in path order, and a
    `SkippedFile` for every entry left out: hidden files and folders (not entered), symbolic links
    (not followed), corpustune run folders (not entered), files of other types, and subfolders that
    cannot be listed (no-access)."""
    for entry in sorted(folder.iterdir()):
        relative = entry.relative_to(root).as_posix()
        if entry.name.startswith("."):
            yield SkippedFile(relative, "hidden")
        elif entry.is_symlink():
            yield SkippedFile(relative, "link")
        elif entry.is_dir() and is_run_folder(entry):
            yield SkippedFile(relative, "run")
        elif entry.is_dir():
            try:
                entries = list(_folder_files(entry, root))
            except OSError as error:  # a subfolder that cannot be listed; the corpus folder itself is an error
                entries = [SkippedFile(relative, "no-access", os_error_text(error))]
            yield from entries
        elif entry.suffix.lower() in FOLDER_SUFFIXES:
            yield entry
        else:
            yield SkippedFile(relative, "type")


READERS: dict[str, Callable[[CorpusSpec, str], Iterator[tuple[str, Passage | SkippedFile]]]] = {
    "beir": _read_beir,
    "jsonl": _read_jsonl,
    "csv": _read_delimited,
    "tsv": _read_delimited,
    "parquet": _read_parquet,
    "textdir": _read_textdir,
}
"""The reader of each format, called as `READERS[form](spec, form)`."""
