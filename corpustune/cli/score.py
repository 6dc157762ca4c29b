"""`corpustune score`: teacher scores for the run folder's candidate lists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import DataPath
from corpustune.data.corpus import CorpusSpec, ReadReport, read_passages
from corpustune.parallel import shutdown_distributed
from corpustune.teach.config import LAPTOP_TEACHERS, ScoreConfig
from corpustune.teach.factory import parse_teacher
from corpustune.teach.stage import score_run


def command(
    data: DataPath,
    run: Annotated[Path, typer.Option("--run", "--run-folder", help="Run folder (reads RUN/candidates, writes RUN/scores; under torchrun spell it --run-folder, as torchrun claims --run).")],
    teacher: Annotated[
        list[str] | None,
        typer.Option(
            "--teacher",
            help="KIND, KIND:MODEL or KIND:MODEL@WEIGHT; kinds cross-encoder, llm, biencoder, bm25. Repeat for an ensemble. "
            "Default: bm25 + biencoder:mpnet (z-score fusion).",
        ),
    ] = None,
    max_length: Annotated[int, typer.Option(help="Token limit of cross-encoder / bi-encoder teachers.")] = 512,
    llm_layout: Annotated[str, typer.Option(help="LLM prompt layout: passage_first or query_first.")] = "passage_first",
    max_passage_words: Annotated[int, typer.Option(help="LLM prompts cut passages to this many words.")] = 150,
    ensemble_normalization: Annotated[str, typer.Option(help="Per-list normalization in an ensemble: zscore or minmax.")] = "zscore",
    positive_filter: Annotated[bool, typer.Option("--positive-filter/--no-positive-filter", help="Keep a query only if the teacher ranks its source first.")] = True,
    top_percentile: Annotated[float, typer.Option(help="Drop queries whose top score is below this percentile of all top scores (negative: off).")] = 25.0,
    chunk_size: Annotated[int, typer.Option(help="Pairs handed to the teacher at once.")] = 256,
) -> None:
    """Score every candidate list with the teacher(s), apply the paper's filters and normalization;
    writes RUN/scores/scores.jsonl and stats.json (cached, resumable, shardable with torchrun)."""
    specs = [parse_teacher(t) for t in teacher] if teacher else list(LAPTOP_TEACHERS)
    specs = [
        s.model_copy(update={"max_length": max_length, "llm_layout": llm_layout, "max_passage_words": max_passage_words})
        for s in specs
    ]
    config = ScoreConfig(
        teachers=specs,
        ensemble_normalization=ensemble_normalization,  # type: ignore[arg-type]
        require_positive_first=positive_filter,
        top_score_percentile=None if top_percentile < 0 else top_percentile,
        chunk_size=chunk_size,
    )
    report = ReadReport()
    passages = read_passages(CorpusSpec(path=data), report)
    stats = score_run(run, passages, config, show_progress=True)
    shutdown_distributed()
    if stats is not None:
        print(
            f"scored {stats['lists']:,} lists ({stats['scoring']['scored_pairs']:,} pairs scored, "
            f"{stats['scoring']['cached_pairs']:,} from cache); removed: positive not first "
            f"{stats.get('removed_positive_not_first', 0):,}, low top score {stats.get('removed_low_top_score', 0):,}; "
            f"kept {stats['kept']:,}; wrote {run / 'scores' / 'scores.jsonl'}"
        )
