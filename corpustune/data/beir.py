"""BEIR queries and qrels: `queries.jsonl` and `qrels/<split>.tsv` (header row, graded scores)."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path

from corpustune.data.atomic import atomic_open, write_jsonl_atomic
from corpustune.data.lines import iter_jsonl, iter_text_lines
from corpustune.data.records import Query
from corpustune.errors import InputError
from corpustune.plural import counted

Qrels = dict[str, dict[str, int]]
"""query id -> passage id -> graded relevance (0 = judged not relevant)."""


def read_queries(path: str | os.PathLike) -> dict[str, Query]:
    """Read a BEIR `queries.jsonl` (`_id`, `text`, optional `type`/`source_id`) into id -> Query."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found; the queries of a BEIR folder are in queries.jsonl, one JSON object "
                         f"with '_id' and 'text' per line")
    queries: dict[str, Query] = {}
    for number, record in iter_jsonl(path):
        if record.get("_id") in (None, "") or record.get("text") is None:
            raise InputError(
                f"{path}: line {number}: a query needs '_id' and 'text' (fields: {sorted(record)})"
            )
        query = Query.from_json(record)
        if query.id in queries:
            raise InputError(f"{path}: line {number}: query id {query.id!r} appears twice; ids must be unique")
        queries[query.id] = query
    return queries


def write_queries(path: str | os.PathLike, queries: Iterable[Query]) -> int:
    return write_jsonl_atomic(path, (q.to_json() for q in queries))


def read_qrels(path: str | os.PathLike) -> Qrels:
    """Read a BEIR qrels TSV (`query-id  corpus-id  score`, header optional) into nested dicts."""
    path = Path(path)
    qrels: Qrels = {}
    for number, line in iter_text_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if number == 1 and fields[-1].strip().lower() == "score":
            continue
        if len(fields) == 4:
            fields = [fields[0], fields[2], fields[3]]
        if len(fields) != 3:
            raise InputError(
                f"{path}: line {number}: expected 3 tab-separated fields (query-id, corpus-id, score), "
                f"got {len(fields)}"
            )
        query_id, passage_id, score = (f.strip() for f in fields)
        try:
            grade = int(float(score))
        except ValueError:
            raise InputError(f"{path}: line {number}: relevance score {score!r} is not a number") from None
        qrels.setdefault(query_id, {})[passage_id] = grade
    return qrels


def write_qrels(path: str | os.PathLike, qrels: Qrels) -> None:
    with atomic_open(path) as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for query_id, judged in qrels.items():
            for passage_id, grade in judged.items():
                handle.write(f"{query_id}\t{passage_id}\t{grade}\n")


def load_split(folder: str | os.PathLike, split: str) -> tuple[dict[str, Query], Qrels]:
    """Queries and qrels of one split of a BEIR folder; only queries that have qrels are returned."""
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").exists() else []
        raise InputError(
            f"{qrels_path}: no qrels for split {split!r}; available splits: {available or 'none'}"
        )
    qrels = read_qrels(qrels_path)
    queries = read_queries(folder / "queries.jsonl")
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise InputError(
            f"{qrels_path}: {counted(len(missing), 'query id')} with qrels but no text in queries.jsonl "
            f"(first: {missing[:5]}); add the queries or remove their qrels"
        )
    return {q: queries[q] for q in qrels}, qrels


def judged_outside_corpus(qrels: Qrels, passage_ids: Collection[str], path: str | os.PathLike) -> str | None:
    """Check the judged passages of `qrels` (read from `path`) against the corpus ids.

    Returns None when every judged passage is in the corpus, and a warning naming how many are
    not (the first few listed; they can only count as misses) otherwise. Raises InputError when
    no relevant passage is in the corpus: every measure would be 0.
    """
    corpus = set(passage_ids)
    judged = {p for passages in qrels.values() for p in passages}
    missing = sorted(judged - corpus)
    if not missing:
        return None
    relevant = {p for passages in qrels.values() for p, grade in passages.items() if grade > 0}
    if not relevant & corpus:
        raise InputError(
            f"{path}: none of its {counted(len(relevant), 'relevant passage')} is in the corpus (first ids: "
            f"{missing[:5]}); the qrels belong to another corpus, or the corpus ids are read from the wrong field "
            f"(--id-field)"
        )
    return (f"{path}: {len(missing):,} of {counted(len(judged), 'judged passage')} are not in the corpus (first: "
            f"{missing[:5]}); they count as misses")


def split_names(folder: str | os.PathLike) -> list[str]:
    """The qrels splits of a BEIR folder (`qrels/<split>.tsv`), sorted."""
    qrels = Path(folder) / "qrels"
    return sorted(p.stem for p in qrels.glob("*.tsv")) if qrels.is_dir() else []


def check_splits(folder: str | os.PathLike, splits: Iterable[str], passage_ids: Collection[str]) -> list[str]:
    """Read the queries and qrels of each split that the folder has, as evaluation will; returns
    the warnings of `judged_outside_corpus` and raises InputError for what evaluation would reject."""
    warnings = []
    for split in dict.fromkeys(splits):
        if (Path(folder) / "qrels" / f"{split}.tsv").exists():
            _, qrels = load_split(folder, split)
            warning = judged_outside_corpus(qrels, passage_ids, Path(folder) / "qrels" / f"{split}.tsv")
            warnings += [warning] if warning else []
    return warnings
