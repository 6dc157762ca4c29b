"""Corpus statistics for `corpustune inspect`: counts, lengths, and what would be skipped or rejected."""

from __future__ import annotations

from array import array
from collections.abc import Iterator

import numpy as np

from corpustune.data.beir import check_splits, split_names
from corpustune.data.corpus import CorpusSpec, ReadReport, detect_format, iter_passages
from corpustune.data.records import Passage
from corpustune.errors import InputError

PERCENTILES = (5, 25, 50, 75, 95, 99)


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

    Returns a dict with `passages`, `skipped_empty` (+ examples), `ignored` (entries of a text
    folder not read, per reason, + examples), `splits` (a BEIR folder's qrels splits), `warnings`,
    `rejected` (the error that a stage would raise, or None), and percentiles of character and
    token lengths (tokens counted by `tokenizer` without truncation, when given). The queries
    and qrels of a BEIR folder are checked as evaluation reads them. Memory: the ids and two int
    arrays, never the texts.
    """
    report = ReadReport()
    characters = array("i")
    tokens = array("i")
    passage_ids: set[str] = set()
    rejected, warnings, splits = None, [], []
    try:
        for batch in _batched(iter_passages(spec, report), batch_size):
            passage_ids.update(p.id for p in batch)
            texts = [p.full_text() for p in batch]
            characters.extend(len(t) for t in texts)
            if tokenizer is not None:
                encoded = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
                tokens.extend(len(ids) for ids in encoded)
        if _is_beir(spec):
            splits = split_names(spec.path)
            warnings = check_splits(spec.path, splits, passage_ids)
    except InputError as error:
        rejected = str(error)
    summary = {
        "path": str(spec.path),
        "passages": report.kept,
        "skipped_empty": report.skipped_empty,
        "skipped_empty_examples": report.skipped_empty_examples,
        "ignored": report.ignored,
        "ignored_examples": report.ignored_examples,
        "splits": splits,
        "warnings": warnings,
        "rejected": rejected,
        "characters": _percentiles(characters),
    }
    if tokenizer is not None:
        summary["tokens"] = _percentiles(tokens)
    return summary


def _is_beir(spec: CorpusSpec) -> bool:
    return spec.format == "beir" or (spec.format == "auto" and detect_format(spec.path) == "beir")


def _percentiles(values: array) -> dict[str, float]:
    if not values:
        return {}
    data = np.frombuffer(values, dtype=np.int32)
    result = {f"p{p}": float(np.percentile(data, p)) for p in PERCENTILES}
    result.update(mean=float(data.mean()), max=float(data.max()), total=float(data.sum()))
    return result
