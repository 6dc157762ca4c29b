"""BEIR queries and qrels: `queries.jsonl` and `qrels/<split>.tsv` (header row, graded scores)."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from corpustune.data.atomic import atomic_open, write_jsonl_atomic
from corpustune.data.lines import COMPRESSED_SUFFIXES, iter_jsonl, iter_text_lines
from corpustune.data.records import Query
from corpustune.errors import InputError
from corpustune.plural import counted

Qrels = dict[str, dict[str, int]]
"""query id -> passage id -> graded relevance (0 = judged not relevant)."""
MAX_REPORTED = 5


def beir_file(folder: Path, name: str) -> Path:
    """`folder/name`, or its compressed copy (`name.gz`, `.bz2`, `.xz`) when only that exists."""
    plain = folder / name
    packed = (folder / f"{name}{suffix}" for suffix in COMPRESSED_SUFFIXES)
    return plain if plain.exists() else next((path for path in packed if path.exists()), plain)


def qrels_file(folder: str | os.PathLike, split: str) -> Path:
    """`folder/qrels/<split>.tsv`, or its compressed copy when only that exists (`beir_file`)."""
    return beir_file(Path(folder) / "qrels", f"{split}.tsv")


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


@dataclass
class QrelsReport:
    """What reading a split's qrels left out or folded together; filled by `read_qrels` and `load_split`."""

    repeated_lines: int = 0
    """Lines that repeat an earlier line's (query, passage) with the same grade: read once."""
    unscoreable: list[str] = field(default_factory=list)
    """Queries whose every judgement is 0 or below: no relevant passage, so no measure is defined
    for them (trec_eval and ir-measures leave such queries out); left out of the split."""

    def summary(self) -> str:
        """E.g. "skipped 2 queries without a relevant passage (every grade 0 or below; first: q1, q7);
        1 line repeats an earlier judgement (same grade, read once)"; "" when nothing was."""
        parts = []
        if self.unscoreable:
            first = ", ".join(self.unscoreable[:MAX_REPORTED])
            parts.append(f"skipped {counted(len(self.unscoreable), 'query', 'queries')} without a relevant passage "
                         f"(every grade 0 or below; first: {first})")
        if self.repeated_lines:
            parts.append(f"{counted(self.repeated_lines, 'line repeats', 'lines repeat')} an earlier judgement "
                         f"(same grade, read once)")
        return "; ".join(parts)


def read_qrels(path: str | os.PathLike, report: QrelsReport | None = None) -> Qrels:
    """Read a BEIR qrels TSV (`query-id  corpus-id  score`, header optional) into nested dicts.

    A (query, passage) judged twice with the same grade is read once (counted in `report`); with
    different grades it is an InputError naming both lines, since either grade could be the
    intended one."""
    path = Path(path)
    report = report if report is not None else QrelsReport()
    qrels: Qrels = {}
    lines: dict[tuple[str, str], int] = {}
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
        judged = qrels.setdefault(query_id, {})
        if passage_id in judged:
            first = lines[query_id, passage_id]
            if judged[passage_id] != grade:
                raise InputError(
                    f"{path}: lines {first} and {number} judge passage {passage_id!r} for query {query_id!r} with "
                    f"different grades ({judged[passage_id]} and {grade}); keep the line with the right grade and "
                    f"delete the other"
                )
            report.repeated_lines += 1
            continue
        lines[query_id, passage_id] = number
        judged[passage_id] = grade
    return qrels


def write_qrels(path: str | os.PathLike, qrels: Qrels) -> None:
    with atomic_open(path) as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for query_id, judged in qrels.items():
            for passage_id, grade in judged.items():
                handle.write(f"{query_id}\t{passage_id}\t{grade}\n")


def load_split(folder: str | os.PathLike, split: str,
               report: QrelsReport | None = None) -> tuple[dict[str, Query], Qrels]:
    """Queries and qrels of one split of a BEIR folder: only the queries with a relevant passage
    (a grade above 0; the others are counted in `report`), each with its text.

    Raises InputError for a missing split, qrels without a judgement (e.g. a header only), qrels
    in which no query has a relevant passage, and query ids without text in `queries.jsonl`."""
    folder = Path(folder)
    report = report if report is not None else QrelsReport()
    qrels_path = qrels_file(folder, split)
    if not qrels_path.exists():
        raise InputError(
            f"{qrels_path}: no qrels for split {split!r}; available splits: {split_names(folder) or 'none'}"
        )
    judged = read_qrels(qrels_path, report)
    if not judged:
        raise InputError(
            f"{qrels_path}: no judgements (the file is empty or holds only its header); add one line per judgement, "
            f"query-id<TAB>corpus-id<TAB>score, or remove the file"
        )
    qrels = {q: passages for q, passages in judged.items() if any(grade > 0 for grade in passages.values())}
    report.unscoreable += [q for q in judged if q not in qrels]
    if not qrels:
        raise InputError(
            f"{qrels_path}: none of its {counted(len(judged), 'query', 'queries')} has a relevant passage (every "
            f"grade is 0 or below), so no measure can be computed; relevant passages need a grade of 1 or more"
        )
    queries = read_queries(beir_file(folder, "queries.jsonl"))
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
    """The qrels splits of a BEIR folder (`qrels/<split>.tsv`, also compressed: `.tsv.gz`, ...), sorted."""
    qrels = Path(folder) / "qrels"
    if not qrels.is_dir():
        return []
    names = (p.name for suffix in ("", *COMPRESSED_SUFFIXES) for p in qrels.glob(f"*.tsv{suffix}"))
    return sorted({name[: name.index(".tsv")] for name in names})


def check_splits(folder: str | os.PathLike, splits: Iterable[str], passage_ids: Collection[str]) -> list[str]:
    """Read the queries and qrels of each split that the folder has, as evaluation will; returns
    the warnings of `judged_outside_corpus` and what the qrels reads left out (`QrelsReport`), and
    raises InputError for what evaluation would reject."""
    warnings = []
    for split in dict.fromkeys(splits):
        path = qrels_file(folder, split)
        if path.exists():
            report = QrelsReport()
            _, qrels = load_split(folder, split, report)
            warning = judged_outside_corpus(qrels, passage_ids, path)
            warnings += [warning] if warning else []
            warnings += [f"{path}: {report.summary()}"] if report.summary() else []
    return warnings
