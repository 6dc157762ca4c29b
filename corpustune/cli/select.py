"""`corpustune select`: the run's select and evaluate stages, shardable under torchrun.

The run's select stage (interpolation grid, choice, RUN/model) and then its evaluate stage (every
model and ablation arm on the same query sets and passages), with settings resolved as for
`corpustune run`. Under `torchrun --nproc_per_node N -m corpustune select --out RUN` each rank
encodes and searches its slice of the corpus (corpustune.evaluate.sharded); rank 0 writes.
"""

from __future__ import annotations

from typing import Annotated

import typer

from corpustune.cli.options import RunFolder, SettingsOptions, with_settings_options
from corpustune.cli.stage import run_stage_command
from corpustune.evaluate.subcorpus import corpus_sentence
from corpustune.layout import RunLayout
from corpustune.parallel import init_distributed, shutdown_distributed


@with_settings_options
def command(
    out: RunFolder,
    settings: SettingsOptions,
    corpus: Annotated[str | None, typer.Option(
        help="select.corpus: full (the whole corpus), sub (a sub-corpus of the evaluation queries' passages) or "
             "auto (sub above select.sub_corpus_above passages).")] = None,
) -> None:
    """Choose and publish the interpolation of base and tuned (RUN/model, RUN/select/curve.json), then
    evaluate every model (RUN/eval/results.json). Shardable: torchrun ... -m corpustune select --out RUN."""
    if corpus not in (None, "auto", "sub", "full"):
        raise typer.BadParameter(f"--corpus must be auto, sub or full, not {corpus!r}")
    resolved = settings.resolve({"select.corpus": corpus})
    context = init_distributed()
    for stage in ("select", "evaluate"):
        run_stage_command(stage, resolved, out, context)
    shutdown_distributed()
    if context.is_main:
        import json

        curve = json.loads(RunLayout(out).select_curve.read_text(encoding="utf-8"))
        print(curve["verdict"])
        print(corpus_sentence(curve["corpus"]))
        print(f"wrote {RunLayout(out).model_dir} and {RunLayout(out).eval_results}")
