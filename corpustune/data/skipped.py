"""Entries of a text folder that give no passage, and why: one record (`SkippedFile`) for both kinds.

*Not read* (`read=False`): hidden files and folders (not entered), symbolic links (not followed),
corpustune run folders (e.g. `--out` inside the corpus folder: not entered, their reports and
model cards are no documents) and files of other types; the folder walk
(`readers._folder_files`) leaves them out on purpose.
*Without text* (`read=True`): documents that were read but yield no text (an encrypted PDF, a PDF
without a text layer, a damaged file, a file or subfolder that cannot be opened or read at all,
a document with no text in it; `documents.py`, `readers.py`), each of
which needs the user's attention. The corpus reader puts both into `ReadReport.skipped_files`;
`inspect` and `run` print the first kind as a count with examples, the second file by file.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpustune.plural import counted


@dataclass(frozen=True, slots=True)
class SkipReason:
    """One reason: how a count of it reads (singular, plural), what it means for one file, and
    whether the file was read (a document without text) or not (left out by the folder walk)."""

    singular: str
    plural: str
    meaning: str
    read: bool


REASONS = {
    "hidden": SkipReason("hidden file or folder", "hidden files or folders", "hidden (not entered)", read=False),
    "link": SkipReason("symbolic link (not followed)", "symbolic links (not followed)",
                       "symbolic link (not followed)", read=False),
    "run": SkipReason("corpustune run folder", "corpustune run folders",
                      "a corpustune run folder (its reports, model cards and queries are outputs, not documents)",
                      read=False),
    "type": SkipReason("file of another type", "files of other types", "not a file type the reader accepts",
                       read=False),
    "encrypted": SkipReason("encrypted", "encrypted", "encrypted PDF (a password is needed to read it)", read=True),
    "no-text-layer": SkipReason("no-text-layer", "no-text-layer",
                                "PDF without a text layer (scanned or image-only pages; run OCR on it first)",
                                read=True),
    "unreadable": SkipReason("unreadable", "unreadable",
                             "not a readable file of its format (damaged, truncated or misnamed)", read=True),
    "no-access": SkipReason("no-access", "no-access",
                            "cannot be opened or read (no permission, an I/O error, or not a regular file)", read=True),
    "no-text": SkipReason("no-text", "no-text", "no text found in it", read=True),
}
"""Reason key -> `SkipReason`; not-read reasons first, then the reasons of documents without text."""
NOT_READ = tuple(key for key, reason in REASONS.items() if not reason.read)
WITHOUT_TEXT = tuple(key for key, reason in REASONS.items() if reason.read)


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """An entry of a text folder that gives no passage: its path (relative to the folder), a key
    of `REASONS` and the detail (e.g. the parser's error)."""

    path: str
    reason: str
    detail: str = ""

    @property
    def read(self) -> bool:
        """True for a document that was read and yields no text, False for an entry not read."""
        return REASONS[self.reason].read

    def describe(self) -> str:
        return f"{self.path}: {REASONS[self.reason].meaning}" + (f" ({self.detail})" if self.detail else "")


def os_error_text(error: OSError) -> str:
    """The detail of an unreadable file: "PermissionError: permission denied" (no path: the entry names it)."""
    return f"{type(error).__name__}: {(error.strerror or str(error)).lower()}"


def skip_counts(files: list[SkippedFile], reasons: tuple[str, ...] = tuple(REASONS)) -> dict[str, int]:
    """How many of `files` have each of `reasons`, in the order of `REASONS`; reasons with none left out."""
    counts = {reason: sum(f.reason == reason for f in files) for reason in reasons}
    return {reason: count for reason, count in counts.items() if count}


def counts_text(counts: dict[str, int]) -> str:
    """"2 files of other types, 1 hidden file or folder" or "1 encrypted, 1 unreadable"."""
    return ", ".join(counted(count, REASONS[reason].singular, REASONS[reason].plural)
                     for reason, count in counts.items())
