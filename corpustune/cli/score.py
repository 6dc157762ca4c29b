"""`corpustune score`: teacher scores for the run folder's candidate lists.

The run's score stage alone: settings resolve as for `corpustune run`; the options below are
shortcuts for the most used `score.*` settings.
"""

from __future__ import annotations

from typing import Annotated

import typer

from corpustune.cli.options import RunFolder, SettingsOptions, with_settings_options
from corpustune.cli.stage import read_stats, run_stage_command
from corpustune.layout import RunLayout
from corpustune.parallel import init_distributed, shutdown_distributed
from corpustune.plural import counted

Opt = typer.Option


@with_settings_options
def command(
    out: RunFolder,
    settings: SettingsOptions,
    teacher: Annotated[
        list[str] | None,
        Opt("--teacher", help="KIND, KIND:MODEL or KIND:MODEL@WEIGHT; kinds cross-encoder, llm, biencoder, bm25. "
            "Repeat for an ensemble. Default: the preset's (laptop: bm25 + biencoder:bge-small, z-score fusion)."),
    ] = None,
    max_length: Annotated[int | None, Opt(help="Token limit of cross-encoder / bi-encoder teachers.")] = None,
    positive_filter: Annotated[bool | None, Opt("--positive-filter/--no-positive-filter", help="Keep a query only if the teacher ranks its source first.")] = None,
    top_percentile: Annotated[float | None, Opt(help="Drop queries whose top score is below this percentile of all top scores (negative: off).")] = None,
    chunk_size: Annotated[int | None, Opt(help="Pairs handed to the teacher at once.")] = None,
) -> None:
    """Score every candidate list with the teacher(s), apply the paper's filters and normalization;
    writes RUN/scores/ (cached, resumable, shardable: torchrun ... -m corpustune score --out RUN)."""
    from corpustune.teach.factory import parse_teacher

    overrides = []
    teachers = None
    if teacher:
        teachers = [parse_teacher(t).model_dump(exclude_unset=True) for t in teacher]
    if max_length is not None:
        if teachers is None:
            teachers = [t.model_dump(exclude_unset=True)
                        for t in settings.resolve().score.teachers]
        teachers = [t | {"max_length": max_length} for t in teachers]
    if top_percentile is not None and top_percentile < 0:  # "off" is null in the settings
        overrides.append("score.top_score_percentile=null")
        top_percentile = None
    shortcuts = {"score.teachers": teachers, "score.require_positive_first": positive_filter,
                 "score.top_score_percentile": top_percentile, "score.chunk_size": chunk_size}
    context = init_distributed()
    run_stage_command("score", settings.resolve(shortcuts, overrides), out, context)
    shutdown_distributed()
    if context.is_main:
        layout = RunLayout(out)
        stats = read_stats(layout.scores_stats)
        print(
            f"scored {counted(stats['lists'], 'list')} ({stats['scoring']['scored_pairs']:,} pairs scored, "
            f"{stats['scoring']['cached_pairs']:,} from cache); removed: positive not first "
            f"{stats.get('removed_positive_not_first', 0):,}, low top score {stats.get('removed_low_top_score', 0):,}; "
            f"kept {stats['kept']:,}; wrote {layout.scores_file}"
        )
