"""`corpustune inspect PATH`: what a corpus holds and what would be skipped or rejected."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import CorpusOptions, print_table, with_corpus_options
from corpustune.data.corpus import MAX_REPORTED, ReadReport
from corpustune.data.inspect import inspect_corpus
from corpustune.data.skipped import SkippedFile, counts_text
from corpustune.plural import counted

REJECTED_EXIT = 1
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
    """Print passage counts, length percentiles (characters and tokens) and skipped/rejected records;
    a BEIR folder's queries and qrels are checked too. Exits with 1 when a stage would reject the corpus."""
    loaded = None
    if tokenizer and tokenizer.lower() != "none":
        from transformers import AutoTokenizer

        from corpustune.models import resolve_model

        loaded = AutoTokenizer.from_pretrained(resolve_model(tokenizer, "tokenizer"))
    summary = inspect_corpus(corpus.spec(path), loaded)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if summary["rejected"]:
        print(f"rejected: {summary['rejected']}", file=sys.stderr)
        raise typer.Exit(REJECTED_EXIT)


def _print_summary(summary: dict) -> None:
    print(f"{summary['path']}: {counted(summary['passages'], 'passage')}")
    if summary["skipped_empty"]:
        print(
            f"skipped: {counted(summary['skipped_empty'], 'record')} with empty text or no visible character "
            f"(first: {', '.join(summary['skipped_empty_examples'])})"
        )
    else:
        print("skipped: none")
    _print_skipped_files(summary)
    if summary["splits"]:
        print(f"qrels splits: {', '.join(summary['splits'])}")
    if not summary["rejected"]:
        print("rejected: none")
    if "files" in summary:
        _print_files(summary["files"])
    lengths = [(unit, summary[unit]) for unit in ("characters", "tokens") if summary.get(unit)]
    if lengths:
        keys = [k for k in lengths[0][1] if k.startswith("p")] + ["mean", "max"]
        print_table(["length"] + keys, [[unit] + [f"{stats[k]:,.0f}" for k in keys] for unit, stats in lengths])


def _print_skipped_files(summary: dict) -> None:
    """Entries not read (a count per reason, the first few), then, for a text folder, every
    document that yields no text with its reason."""
    report = ReadReport(skipped_files=[SkippedFile(**entry) for entry in summary["skipped_files"]])
    if ignored := report.ignored_files:
        examples = ", ".join(f.path for f in ignored[:MAX_REPORTED])
        print(f"ignored: {counts_text(report.ignored_counts())} (first: {examples})")
    if bad := report.bad_files:
        print(f"files without text: {len(bad):,} ({counts_text(report.bad_counts())})")
        for entry in bad:
            print(f"  {entry.describe()}")
    elif "files" in summary:
        print("files without text: none")


def _print_files(files: dict[str, int]) -> None:
    """A text folder: passages per file (the first `MAX_FILES_SHOWN`)."""
    shown = list(files.items())[:MAX_FILES_SHOWN]
    if shown:
        print_table(["file", "passages"], [[name, f"{count:,}"] for name, count in shown])
    if len(files) > len(shown):
        print(f"... and {len(files) - len(shown):,} more files (all of them with --json)")
