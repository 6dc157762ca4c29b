"""Text out of PDF, HTML and DOCX files in a text folder (the `docs` extra).

A document becomes passages the way a `.txt` file does (windows of whitespace tokens with
overlap, `split_words`), with ids that keep the source: a PDF is read page by page
(`report.pdf#p3`, pages counted from 1; a long page is split into `report.pdf#p3#0`, `#1`, ...),
an HTML or DOCX file as one text (`page.html`, or `page.html#0`, `#1`, ... when split). A file
that yields no text at all is not dropped silently: it becomes a `SkippedFile` with one of the
reasons of a document without text (`skipped.WITHOUT_TEXT`: encrypted, no-text-layer, unreadable,
no-access, no-text), which the corpus reader counts and `inspect` and `run` list file by file.

Libraries (chosen by extraction quality, docs/getting-started.md, "Corpus formats"): pypdf for PDF
(with `cryptography` for encrypted files), trafilatura for the main text of an HTML page
(navigation, footers and boilerplate removed), python-docx for DOCX (paragraphs and table cells, in
order).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corpustune.data.chunking import split_words
from corpustune.data.records import Passage
from corpustune.data.skipped import SkippedFile, os_error_text
from corpustune.errors import require_extra

PDF_SUFFIXES = (".pdf",)
HTML_SUFFIXES = (".html", ".htm")
DOCX_SUFFIXES = (".docx",)
DOCUMENT_SUFFIXES = PDF_SUFFIXES + HTML_SUFFIXES + DOCX_SUFFIXES


def document_passages(
    file: Path, relative: str, chunk_words: int, chunk_overlap: int
) -> Iterator[tuple[str, Passage | SkippedFile]]:
    """(where, passage) for every passage of one PDF/HTML/DOCX file, or one (where, SkippedFile)."""
    suffix = file.suffix.lower()
    if suffix in PDF_SUFFIXES:
        units = _pdf_pages(file)
    elif suffix in HTML_SUFFIXES:
        units = _html_text(file)
    else:
        units = _docx_text(file)
    if isinstance(units, tuple):
        reason, detail = units
        yield relative, SkippedFile(relative, reason, detail)
        return
    for unit, text in units:
        base = f"{relative}{unit}"
        chunks = split_words(text, chunk_words, chunk_overlap)
        if len(chunks) <= 1:
            yield base, Passage(id=base, text=" ".join(text.split()))
            continue
        for index, chunk in enumerate(chunks):
            yield f"{base}#{index}", Passage(id=f"{base}#{index}", text=chunk)


Units = list[tuple[str, str]] | tuple[str, str]
"""The (id suffix, text) units of a readable document, or (reason, detail) of a bad one."""


def _pdf_pages(file: Path) -> Units:
    """One unit per page (`#p1`, `#p2`, ...); empty pages stay (the reader counts them as empty)."""
    pypdf = require_extra("pypdf", "docs")
    with _quiet("pypdf"):
        return _read_pdf(pypdf, file)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Hold back a library's logged warnings (pypdf logs every repair it makes to a damaged file):
    what matters is reported once, as the file's reason and detail."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _read_pdf(pypdf, file: Path) -> Units:
    try:
        reader = pypdf.PdfReader(file)
        if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
            return "encrypted", ""
        pages = [(f"#p{number}", page.extract_text() or "") for number, page in enumerate(reader.pages, start=1)]
        if any(text.strip() for _, text in pages):
            return pages
        has_images = any(len(page.images) for page in reader.pages)
    except pypdf.errors.FileNotDecryptedError:
        return "encrypted", ""
    except (pypdf.errors.PyPdfError, ValueError, KeyError, OSError) as error:
        return "unreadable", f"{type(error).__name__}: {error}"
    if has_images:
        return "no-text-layer", f"{len(pages)} page(s), images only"
    return "no-text", f"{len(pages)} page(s)"


def _html_text(file: Path) -> Units:
    """The page's main text (trafilatura: no navigation, footer or boilerplate), one unit."""
    trafilatura = require_extra("trafilatura", "docs")
    try:
        content = file.read_bytes()
    except OSError as error:
        return "no-access", os_error_text(error)
    text = trafilatura.extract(content, include_comments=False, include_tables=True)
    if not text or not text.strip():
        return "no-text", "no main text in the page"
    return [("", text)]


def _docx_text(file: Path) -> Units:
    """Paragraphs and table cells in document order (a merged cell once), one unit."""
    docx = require_extra("docx", "docs")
    try:
        document = docx.Document(str(file))
        parts: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, docx.table.Table):
                for row in block.rows:
                    cells = [cell.text for cell in row.cells]
                    parts.extend(c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1])
            else:
                parts.append(block.text)
    except Exception as error:  # python-docx raises whatever the zip or XML layer raises on a damaged file
        return "unreadable", f"{type(error).__name__}: {error}"
    text = "\n".join(part for part in parts if part.strip())
    if not text:
        return "no-text", "no paragraphs with text"
    return [("", text)]
