"""`corpustune mine`: candidate lists for the run folder's synthetic queries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import DataPath
from corpustune.data.corpus import CorpusSpec, ReadReport, read_passages
from corpustune.mine.config import MineConfig
from corpustune.mine.stage import mine_run
from corpustune.parallel import shutdown_distributed
from corpustune.retrieve.encode import EmbeddingCache
from corpustune.retrieve.search import DenseSettings


def command(
    data: DataPath,
    run: Annotated[Path, typer.Option("--run", "--run-folder", help="Run folder (reads RUN/queries, writes RUN/candidates; under torchrun spell it --run-folder, as torchrun claims --run).")],
    dense: Annotated[list[str] | None, typer.Option("--dense", help="Dense retriever model (repeat for several; default minilm).")] = None,
    no_dense: Annotated[bool, typer.Option("--no-dense", help="Use no dense retriever.")] = False,
    bm25: Annotated[bool, typer.Option("--bm25/--no-bm25", help="Use BM25 as a retriever.")] = True,
    depth: Annotated[int, typer.Option(help="Passages per retriever and query.")] = 100,
    rrf_k: Annotated[float, typer.Option(help="Reciprocal rank fusion constant.")] = 60.0,
    filter_top_n: Annotated[int, typer.Option(help="Keep a query only if its source is in a retriever's top N (0: off).")] = 20,
    list_size: Annotated[int, typer.Option(help="Passages per list, the source passage included.")] = 20,
    query_prompt: Annotated[str, typer.Option(help="Text put before every query for the dense models.")] = "",
    passage_prompt: Annotated[str, typer.Option(help="Text put before every passage for the dense models.")] = "",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write cached passage embeddings.")] = False,
) -> None:
    """Retrieve candidates with BM25 and dense models, fuse them (RRF) and keep the queries whose source
    passage a retriever finds; writes RUN/candidates/candidates.jsonl and stats.json."""
    models = [] if no_dense else (dense or ["minilm"])
    config = MineConfig(
        bm25=bm25,
        dense=[DenseSettings(model=m, query_prompt=query_prompt, passage_prompt=passage_prompt) for m in models],
        depth=depth,
        rrf_k=rrf_k,
        filter_top_n=filter_top_n or None,
        list_size=list_size,
    )
    report = ReadReport()
    passages = read_passages(CorpusSpec(path=data), report)
    stats = mine_run(run, passages, config, cache=None if no_cache else EmbeddingCache(), show_progress=True)
    shutdown_distributed()
    if stats is not None:
        print(f"{data}: {report.summary()}")
        print(
            f"mined {stats.kept:,} of {stats.queries:,} queries; dropped: retriever filter {stats.dropped_retriever_filter:,}, "
            f"held-out source {stats.dropped_source_heldout:,}, no source {stats.dropped_no_source:,}, "
            f"unknown source {stats.dropped_source_unknown:,}; held-out candidates removed "
            f"{stats.heldout_candidates_removed:,}; wrote {run / 'candidates' / 'candidates.jsonl'}"
        )
