"""`corpustune inspect PATH`: what a corpus holds and what would be skipped or rejected."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import CorpusOptions, print_table, with_corpus_options
from corpustune.data.corpus import IGNORED_REASONS
from corpustune.data.inspect import inspect_corpus
from corpustune.plural import counted

REJECTED_EXIT = 1


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
            f"skipped: {counted(summary['skipped_empty'], 'record')} with empty text "
            f"(first: {', '.join(summary['skipped_empty_examples'])})"
        )
    else:
        print("skipped: none")
    if summary["ignored"]:
        kinds = ", ".join(counted(n, *IGNORED_REASONS[reason]) for reason, n in summary["ignored"].items())
        print(f"ignored: {kinds} (first: {', '.join(summary['ignored_examples'])})")
    if summary["splits"]:
        print(f"qrels splits: {', '.join(summary['splits'])}")
    if not summary["rejected"]:
        print("rejected: none")
    lengths = [(unit, summary[unit]) for unit in ("characters", "tokens") if summary.get(unit)]
    if lengths:
        keys = [k for k in lengths[0][1] if k.startswith("p")] + ["mean", "max"]
        print_table(["length"] + keys, [[unit] + [f"{stats[k]:,.0f}" for k in keys] for unit, stats in lengths])
