"""TREC run files: `qid Q0 docid rank score tag`, one line per retrieved passage."""

from __future__ import annotations

import os

from corpustune.data.atomic import atomic_open
from corpustune.data.lines import iter_text_lines
from corpustune.errors import InputError
from corpustune.retrieve import Run
from corpustune.retrieve.fusion import ranked


def write_trec_run(path: str | os.PathLike, run: Run, tag: str) -> None:
    with atomic_open(path) as handle:
        for query_id, scores in run.items():
            for rank, passage_id in enumerate(ranked(scores), start=1):
                handle.write(f"{query_id} Q0 {passage_id} {rank} {scores[passage_id]:.6f} {tag}\n")


def read_trec_run(path: str | os.PathLike) -> Run:
    run: Run = {}
    for number, line in iter_text_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise InputError(f"{path}: line {number}: a TREC run line has 6 fields, found {len(fields)}")
        try:
            run.setdefault(fields[0], {})[fields[2]] = float(fields[4])
        except ValueError:
            raise InputError(f"{path}: line {number}: score {fields[4]!r} is not a number") from None
    return run
