"""`corpustune mine`: candidate lists for the run folder's synthetic queries.

The run's mine stage alone: settings resolve as for `corpustune run`; the options below are
shortcuts for the most used `mine.*` settings.
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
    dense: Annotated[list[str] | None, Opt("--dense", help="Dense retriever model (repeat for several).")] = None,
    no_dense: Annotated[bool, Opt("--no-dense", help="Use no dense retriever.")] = False,
    bm25: Annotated[bool | None, Opt("--bm25/--no-bm25", help="Use BM25 as a retriever.")] = None,
    depth: Annotated[int | None, Opt(help="Passages per retriever and query.")] = None,
    filter_top_n: Annotated[int | None, Opt(help="Keep a query only if its source is in a retriever's top N (0: off).")] = None,
    list_size: Annotated[int | None, Opt(help="Passages per list, the source passage included.")] = None,
) -> None:
    """Retrieve candidates with BM25 and dense models, fuse them (RRF) and keep the queries whose source
    passage a retriever finds; writes RUN/candidates/. Shardable: torchrun ... -m corpustune mine --out RUN."""
    overrides = []
    if filter_top_n == 0:  # an option's None means "not given"; the setting spells "off" as null
        overrides.append("mine.filter_top_n=null")
        filter_top_n = None
    models = [] if no_dense else dense
    shortcuts = {"mine.dense": None if models is None else [{"model": m} for m in models], "mine.bm25": bm25,
                 "mine.depth": depth, "mine.list_size": list_size, "mine.filter_top_n": filter_top_n}
    context = init_distributed()
    run_stage_command("mine", settings.resolve(shortcuts, overrides), out, context)
    shutdown_distributed()
    if context.is_main:
        layout = RunLayout(out)
        stats = read_stats(layout.candidates_stats)
        print(
            f"mined {stats['kept']:,} of {counted(stats['queries'], 'query', 'queries')}; dropped: retriever filter "
            f"{stats['dropped_retriever_filter']:,}, held-out source {stats['dropped_source_heldout']:,}, no source "
            f"{stats['dropped_no_source']:,}, unknown source {stats['dropped_source_unknown']:,}; held-out candidates "
            f"removed {stats['heldout_candidates_removed']:,}; wrote {layout.candidates_file}"
        )
