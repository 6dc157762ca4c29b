"""`corpustune generate`: synthetic queries of several types for a corpus, into RUN/queries/.

The run's generate stage alone: the settings resolve as for `corpustune run` (preset, --config,
--set), and the options below are shortcuts for the most used `generate.*` settings.
"""

from __future__ import annotations

from typing import Annotated

import typer

from corpustune.cli.options import (ExampleQueries, RunFolder, SettingsOptions, example_queries_setting, print_table,
                                    with_settings_options)
from corpustune.cli.stage import read_stats, run_stage_command
from corpustune.layout import RunLayout
from corpustune.pipeline.runner import StageOutcome
from corpustune.plural import counted

Opt = typer.Option


def _counts(values: list[str] | None) -> dict[str, int] | None:
    if not values:
        return None
    counts = {}
    for value in values:
        name, _, number = value.partition("=")
        if not number.isdigit() or int(number) < 1:
            raise typer.BadParameter(f"--count expects TYPE=N with N >= 1, got {value!r}")
        counts[name] = int(number)
    return counts


@with_settings_options
def command(
    out: RunFolder,
    settings: SettingsOptions,
    backend: Annotated[str | None, Opt(help="llamacpp, openai, vllm or transformers.")] = None,
    model: Annotated[str | None, Opt(help="Alias, GGUF/HF path or hub id; for openai the served model name.")] = None,
    types: Annotated[str | None, Opt(help="Comma-separated built-in type names or paths of YAML type files.")] = None,
    count: Annotated[list[str] | None, Opt(help="Queries per passage for one type, TYPE=N (repeatable).")] = None,
    max_passages: Annotated[int | None, Opt(help="Passages to sample.")] = None,
    heldout: Annotated[int | None, Opt(help="Passages held out from training (synthetic test set).")] = None,
    json_mode: Annotated[bool | None, Opt("--json-mode/--no-json-mode", help="One JSON call per passage for all types.")] = None,
    temperature: Annotated[float | None, Opt(help="Sampling temperature.")] = None,
    max_new_tokens: Annotated[int | None, Opt(help="Token limit of one query.")] = None,
    seed: Annotated[int | None, Opt(help="Seed of sampling, few-shot picks and decoding.")] = None,
    threads: Annotated[int | None, Opt(help="llama.cpp CPU threads.")] = None,
    base_url: Annotated[str | None, Opt(help="openai: server base URL including /v1.")] = None,
    concurrency: Annotated[int | None, Opt(help="openai: requests in flight.")] = None,
    batch_passages: Annotated[int | None, Opt(help="Passages per backend call and log append.")] = None,
    example_queries: ExampleQueries = None,
) -> None:
    """Write synthetic queries (resumable: a re-run skips finished passages). Any other setting:
    --set generate.KEY=VALUE (see `corpustune config`)."""
    shortcuts = {
        "generate.backend.name": backend, "generate.backend.model": model,
        "generate.types": None if types is None else [t.strip() for t in types.split(",") if t.strip()],
        "generate.counts": _counts(count), "generate.max_passages": max_passages, "generate.heldout_count": heldout,
        "generate.json_mode": json_mode, "generate.temperature": temperature,
        "generate.max_new_tokens": max_new_tokens, "generate.seed": seed, "generate.backend.n_threads": threads,
        "generate.backend.base_url": base_url, "generate.backend.max_concurrency": concurrency,
        "generate.batch_passages": batch_passages, **example_queries_setting(example_queries),
    }
    outcome = run_stage_command("generate", settings.resolve(shortcuts), out)
    _print_summary(RunLayout(out), outcome)


def _print_summary(layout: RunLayout, outcome: StageOutcome) -> None:
    stats = read_stats(layout.query_stats)
    sample = stats["passages"]
    counts = outcome.record.counts if outcome.status == "done" else {}
    print(
        f"{counted(sample['sampled'], 'passage')} sampled ({sample['heldout']:,} held out; skipped: "
        f"{sample['skipped_short']:,} short, {sample['skipped_duplicate_text']:,} duplicate text); "
        f"{counted(counts.get('generated_calls', 0), 'call')} made, "
        f"{counted(counts.get('reused_records', 0), 'passage')} reused from the log"
    )
    rows = []
    for name, type_stats in stats["types"].items():
        dropped = ", ".join(f"{reason} {n}" for reason, n in type_stats["dropped"].items()) or "-"
        rows.append([name, str(type_stats["generated"]), str(type_stats["kept"]), f"{type_stats['mean_words']:.1f}",
                     dropped])
    print_table(["type", "generated", "kept", "mean words", "dropped"], rows)
    queries = stats["queries"]
    print(f"wrote {layout.queries_dir}: {queries['train']:,} training and "
          f"{counted(queries['heldout'], 'held-out query', 'held-out queries')}")

