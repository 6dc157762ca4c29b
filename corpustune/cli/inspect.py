"""`corpustune inspect PATH`: what a corpus holds and what would be skipped or rejected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import CorpusOptions, print_table, with_corpus_options
from corpustune.data.documents import BadFile
from corpustune.data.inspect import inspect_corpus

MAX_FILES_SHOWN = 50


@with_corpus_options
def command(
    path: Annotated[Path, typer.Argument(help="Corpus file or folder.")],
    corpus: CorpusOptions,
    tokenizer: Annotated[
        str | None, typer.Option(help="Model whose tokenizer counts tokens (alias, path or hub id); 'none' to skip.")
    ] = "minilm",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Print passage counts, length percentiles (characters and tokens) and skipped/rejected records."""
    loaded = None
    if tokenizer and tokenizer.lower() != "none":
        from transformers import AutoTokenizer

        from corpustune.models import resolve_model

        loaded = AutoTokenizer.from_pretrained(resolve_model(tokenizer))
    summary = inspect_corpus(corpus.spec(path), loaded)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{summary['path']}: {summary['passages']:,} passages")
    if summary["skipped_empty"]:
        print(
            f"skipped: {summary['skipped_empty']:,} records with empty text "
            f"(first: {', '.join(summary['skipped_empty_examples'])})"
        )
    else:
        print("skipped: none")
    print(f"rejected: {summary['rejected'] or 'none'}")
    if "files" in summary:
        _print_files(summary)
    lengths = [(unit, summary[unit]) for unit in ("characters", "tokens") if summary.get(unit)]
    if lengths:
        keys = [k for k in lengths[0][1] if k.startswith("p")] + ["mean", "max"]
        print_table(["length"] + keys, [[unit] + [f"{stats[k]:,.0f}" for k in keys] for unit, stats in lengths])
    if summary["rejected"]:
        raise typer.Exit(1)


def _print_files(summary: dict) -> None:
    """A text folder: passages per file, then every file that yields no text with its reason."""
    files = summary["files"]
    shown = list(files.items())[:MAX_FILES_SHOWN]
    print_table(["file", "passages"], [[name, f"{count:,}"] for name, count in shown])
    if len(files) > len(shown):
        print(f"... and {len(files) - len(shown):,} more files (all of them with --json)")
    bad = summary["bad_files"]
    if not bad:
        print("files without text: none")
        return
    counts = ", ".join(f"{count} {reason}" for reason, count in summary["bad_counts"].items())
    print(f"files without text: {len(bad)} ({counts})")
    for entry in bad:
        print(f"  {BadFile(**entry).describe()}")
