"""`corpustune generate`: synthetic queries of several types for a corpus, into RUN/queries/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import DataPath, Format, IdField, TextField, TitleField, corpus_spec, print_table
from corpustune.data.corpus import ReadReport, read_passages
from corpustune.generate.config import BackendConfig, GenerateConfig
from corpustune.generate.runner import run_generation
from corpustune.generate.types import BUILTIN_TYPES


def _counts(values: list[str]) -> dict[str, int]:
    counts = {}
    for value in values:
        name, _, number = value.partition("=")
        if not number.isdigit() or int(number) < 1:
            raise typer.BadParameter(f"--count expects TYPE=N with N >= 1, got {value!r}")
        counts[name] = int(number)
    return counts


def command(
    data: DataPath,
    out: Annotated[Path, typer.Option("--out", help="Run folder; queries go to RUN/queries/.")],
    backend: Annotated[str, typer.Option(help="llamacpp, openai, vllm or transformers.")] = "llamacpp",
    model: Annotated[str, typer.Option(help="Alias, GGUF/HF path or hub id; for openai the served model name.")] = "qwen-coder-1.5b",
    types: Annotated[str, typer.Option(help="Comma-separated built-in type names or paths of YAML type files.")] = ",".join(BUILTIN_TYPES),
    count: Annotated[list[str], typer.Option(help="Queries per passage for one type, TYPE=N (repeatable).")] = [],  # noqa: B006
    max_passages: Annotated[int | None, typer.Option(help="Passages to sample (default: all).")] = None,
    heldout: Annotated[int, typer.Option(help="Passages held out from training (synthetic test set).")] = 100,
    json_mode: Annotated[bool, typer.Option("--json-mode", help="One JSON call per passage for all types.")] = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.8,
    max_new_tokens: Annotated[int, typer.Option(help="Token limit of one query.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of sampling, few-shot picks and decoding.")] = 13,
    threads: Annotated[int | None, typer.Option(help="llama.cpp CPU threads.")] = None,
    base_url: Annotated[str, typer.Option(help="openai: server base URL including /v1.")] = "http://127.0.0.1:8000/v1",
    api_key_env: Annotated[str, typer.Option(help="openai: environment variable with the API key.")] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(help="openai: requests in flight.")] = 8,
    timeout: Annotated[float, typer.Option(help="openai: seconds per request.")] = 60.0,
    max_retries: Annotated[int, typer.Option(help="openai: retries per request.")] = 5,
    backoff: Annotated[float, typer.Option(help="openai: first retry delay in seconds.")] = 1.0,
    tensor_parallel: Annotated[int, typer.Option(help="vllm: tensor-parallel GPUs.")] = 1,
    batch_passages: Annotated[int | None, typer.Option(help="Passages per backend call and log append.")] = None,
    form: Format = "auto",
    id_field: IdField = None,
    title_field: TitleField = "title",
    text_field: TextField = "text",
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
) -> None:
    """Write synthetic queries (resumable: a re-run skips finished passages)."""
    if backend not in ("llamacpp", "openai", "vllm", "transformers"):
        raise typer.BadParameter(f"--backend must be llamacpp, openai, vllm or transformers, not {backend!r}")
    config = GenerateConfig(
        backend=BackendConfig(
            name=backend,  # type: ignore[arg-type]
            model=model,
            n_threads=threads,
            base_url=base_url,
            api_key_env=api_key_env,
            max_concurrency=concurrency,
            timeout_s=timeout,
            max_retries=max_retries,
            backoff_s=backoff,
            tensor_parallel_size=tensor_parallel,
        ),
        types=tuple(t.strip() for t in types.split(",") if t.strip()),
        counts=_counts(count),
        max_passages=max_passages,
        heldout_count=heldout,
        json_mode=json_mode,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
        batch_passages=batch_passages,
    )
    report = ReadReport()
    passages = read_passages(corpus_spec(data, form, id_field, title_field, text_field), report)
    print(f"{data}: {report.summary()}")
    result = run_generation(passages, config, out, show_progress=not no_progress)
    sample = result.stats["passages"]
    print(
        f"{sample['sampled']:,} passages sampled ({sample['heldout']:,} held out; skipped: {sample['skipped_short']:,} "
        f"short, {sample['skipped_duplicate_text']:,} duplicate text); {result.generated_calls:,} calls made, "
        f"{result.reused_records:,} passages reused from the log"
    )
    rows = []
    for name, stats in result.stats["types"].items():
        dropped = ", ".join(f"{reason} {n}" for reason, n in stats["dropped"].items()) or "-"
        rows.append([name, str(stats["generated"]), str(stats["kept"]), f"{stats['mean_words']:.1f}", dropped])
    print_table(["type", "generated", "kept", "mean words", "dropped"], rows)
    queries = result.stats["queries"]
    print(f"wrote {out / 'queries'}: {queries['train']:,} training and {queries['heldout']:,} held-out queries")
