"""`corpustune evaluate`: retrieval quality of a model (or BM25) on a BEIR folder's qrels."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Annotated, get_args

import typer

from corpustune.cli.options import CorpusOptions, DataPath, print_table, with_corpus_options
from corpustune.data.atomic import write_json_atomic
from corpustune.data.beir import QrelsReport, judged_outside_corpus, load_split, qrels_file
from corpustune.data.corpus import ReadReport, read_passages
from corpustune.evaluate.retrieval import evaluate_retriever
from corpustune.evaluate.trec import write_trec_run
from corpustune.hardware import Precision
from corpustune.plural import counted
from corpustune.retrieve.encode import EmbeddingCache
from corpustune.retrieve.search import DenseSettings, RetrieverSettings


@with_corpus_options
def command(
    data: DataPath,
    model: Annotated[str, typer.Option(help="Alias, local path or hub id of a sentence-transformers model.")] = "minilm",
    retriever: Annotated[str, typer.Option(help="dense, bm25 or hybrid (reciprocal rank fusion of both).")] = "dense",
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv to evaluate on.")] = "test",
    depth: Annotated[int, typer.Option(min=1, help="Passages retrieved per query.")] = 100,
    query_prompt: Annotated[str, typer.Option(help="Text put before every query (e.g. 'query: ').")] = "",
    passage_prompt: Annotated[str, typer.Option(help="Text put before every passage (e.g. 'passage: ').")] = "",
    max_seq_length: Annotated[int | None, typer.Option(help="Token limit of the encoder (default: the model's).")] = None,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Run code shipped with the model (off unless you trust it).")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="JSON file for the metrics (default corpustune-eval/<name>.json).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write cached passage embeddings.")] = False,
    precision: Annotated[str, typer.Option(
        help="auto (bf16 autocast where the CPU or GPU computes bf16 natively, fp32 elsewhere), fp32 or bf16.")] = "auto",
    *,
    corpus: CorpusOptions,
) -> None:
    """Retrieve with a model and print nDCG@10, Recall@100 and MRR@10; writes JSON and a TREC run."""
    if retriever not in ("dense", "bm25", "hybrid"):
        raise typer.BadParameter(f"--retriever must be dense, bm25 or hybrid, not {retriever!r}")
    if precision not in get_args(Precision):
        raise typer.BadParameter(f"--precision must be {', '.join(get_args(Precision))}, not {precision!r}")
    settings = RetrieverSettings(
        kind=retriever,  # type: ignore[arg-type]
        dense=DenseSettings(
            model=model, query_prompt=query_prompt, passage_prompt=passage_prompt, max_seq_length=max_seq_length,
            trust_remote_code=trust_remote_code, precision=precision,  # type: ignore[arg-type]
        ),
    )
    if retriever != "bm25" and max_seq_length is not None:
        from corpustune.pipeline.preflight import check_token_limit

        check_token_limit(model, {"--max-seq-length": max_seq_length})
    started = time.perf_counter()
    report = ReadReport()
    passages = read_passages(corpus.spec(data), report)
    qrels_report = QrelsReport()
    queries, qrels = load_split(data, split, qrels_report)
    warning = judged_outside_corpus(qrels, {p.id for p in passages}, qrels_file(data, split))
    skipped = f"; {qrels_report.summary()}" if qrels_report.summary() else ""
    with_qrels = counted(len(qrels), split + " query", split + " queries")
    print(f"{data}: {report.summary()}; {with_qrels} with qrels{skipped}")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    evaluation = evaluate_retriever(
        passages, queries, qrels, settings, depth=depth, cache=None if no_cache else EmbeddingCache(), show_progress=True
    )
    seconds = time.perf_counter() - started
    print_table(
        ["retriever", "queries", "nDCG@10", "Recall@100", "MRR@10"],
        [[evaluation.retriever, str(evaluation.num_queries)]
         + [f"{100 * evaluation.metrics[m]:.2f}" for m in ("nDCG@10", "R@100", "RR@10")]],
    )
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{data.name}-{split}-{evaluation.retriever}")
    out = out or Path("corpustune-eval") / f"{name}.json"
    write_json_atomic(
        out,
        {
            "data": str(data),
            "split": split,
            "retriever": evaluation.retriever,
            "settings": settings.model_dump(),
            "depth": depth,
            "queries": evaluation.num_queries,
            "metrics": evaluation.metrics,
            "seconds": round(seconds, 2),
        },
    )
    write_trec_run(out.with_suffix(".trec"), evaluation.run, tag=name)
    print(f"wrote {out} and {out.with_suffix('.trec')}")
