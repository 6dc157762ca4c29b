"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpustune.data.corpus import CorpusFormat, CorpusSpec

DataPath = Annotated[
    Path,
    typer.Option("--data", help="Corpus: a BEIR folder, a .jsonl/.csv/.tsv/.parquet file, or a folder of .txt/.md files."),
]
Format = Annotated[str, typer.Option("--format", help="auto, beir, jsonl, csv, tsv, parquet or textdir.")]
IdField = Annotated[str | None, typer.Option("--id-field", help="Record field holding the id (default `_id`, else `id`).")]
TitleField = Annotated[str, typer.Option("--title-field", help="Record field holding the title.")]
TextField = Annotated[str, typer.Option("--text-field", help="Record field holding the text.")]


def corpus_spec(path: Path, form: str, id_field: str | None, title_field: str, text_field: str) -> CorpusSpec:
    return CorpusSpec(
        path=path,
        format=form,  # type: ignore[arg-type]
        id_field=id_field,
        title_field=title_field,
        text_field=text_field,
    )


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print a plain, aligned text table (numbers right-aligned)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    def line(cells):
        return "  ".join(
            str(c).rjust(w) if i and _is_number(c) else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def _is_number(cell) -> bool:
    try:
        float(str(cell).replace(",", ""))
        return True
    except ValueError:
        return False


__all__ = ["CorpusFormat", "DataPath", "Format", "IdField", "TextField", "TitleField", "corpus_spec", "print_table"]
