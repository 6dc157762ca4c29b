"""Corpus statistics for `corpustune inspect`: counts, lengths, and what would be skipped or rejected."""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterator

import numpy as np

from corpustune.data.beir import check_splits, split_names
from corpustune.data.corpus import CorpusSpec, ReadReport, detect_format, iter_passages
from corpustune.data.records import Passage
from corpustune.data.skipped import skip_counts
from corpustune.errors import InputError

PERCENTILES = (5, 25, 50, 75, 95, 99)
SOURCE_FILE = re.compile(r"^(.*?)(#p\d+)?(#\d+)?$")
"""A text folder's passage id -> its file: `report.pdf#p3#1` -> `report.pdf` (page 3, chunk 1)."""


def _batched(passages: Iterator[Passage], size: int) -> Iterator[list[Passage]]:
    batch: list[Passage] = []
    for passage in passages:
        batch.append(passage)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def inspect_corpus(spec: CorpusSpec, tokenizer=None, batch_size: int = 2048) -> dict:
    """Stream the corpus once and summarize it.

    Returns a dict with `passages`, `skipped_empty` (+ examples), `skipped_files` (entries of a
    text folder that give no passage: path, reason, detail; `skipped.REASONS`) and
    `skipped_counts` (per reason), `splits` (a BEIR folder's qrels splits), `warnings`,
    `rejected` (the error that a stage would raise, or None), and percentiles of character and
    token lengths (tokens counted by `tokenizer` without truncation, when given). A text folder
    adds `files` (passages per file, in reading order). The queries and qrels of a BEIR folder
    are checked as evaluation reads them. Memory: the ids (for duplicate detection), one entry
    per file of a text folder and two int arrays, never the texts.
    """
    report = ReadReport()
    characters = array("i")
    tokens = array("i")
    passage_ids: set[str] = set()
    rejected, warnings, splits = None, [], []
    files: Counter[str] = Counter()
    try:
        for batch in _batched(iter_passages(spec, report), batch_size):
            passage_ids.update(p.id for p in batch)
            files.update(SOURCE_FILE.match(p.id).group(1) for p in batch)
            texts = [p.full_text() for p in batch]
            characters.extend(len(t) for t in texts)
            if tokenizer is not None:
                encoded = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
                tokens.extend(len(ids) for ids in encoded)
        if _form(spec) == "beir":
            splits = split_names(spec.path)
            warnings = check_splits(spec.path, splits, passage_ids)
    except InputError as error:
        rejected = str(error)
    summary = {
        "path": str(spec.path),
        "passages": report.kept,
        "skipped_empty": report.skipped_empty,
        "skipped_empty_examples": report.skipped_empty_examples,
        "skipped_files": [{"path": f.path, "reason": f.reason, "detail": f.detail} for f in report.skipped_files],
        "skipped_counts": skip_counts(report.skipped_files),
        "splits": splits,
        "warnings": warnings,
        "rejected": rejected,
        "characters": _percentiles(characters),
    }
    if _form(spec) == "textdir":
        summary["files"] = dict(files)
    if tokenizer is not None:
        summary["tokens"] = _percentiles(tokens)
    return summary


def _form(spec: CorpusSpec) -> str | None:
    """The corpus format, or None where it cannot be told (that error is the summary's `rejected`)."""
    if spec.format != "auto":
        return spec.format
    try:
        return detect_format(spec.path) if spec.path.exists() else None
    except InputError:
        return None


def _percentiles(values: array) -> dict[str, float]:
    if not values:
        return {}
    data = np.frombuffer(values, dtype=np.int32)
    result = {f"p{p}": float(np.percentile(data, p)) for p in PERCENTILES}
    result.update(mean=float(data.mean()), max=float(data.max()), total=float(data.sum()))
    return result
