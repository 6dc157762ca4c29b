"""`corpustune train`: train the student on the run's scored lists (or on human qrels).

The run's train stage alone (RUN/train/<arm>/, model in RUN/model): settings resolve as for
`corpustune run`, so `corpustune run` afterwards continues without training again. Runs as one
process, or data-parallel under `torchrun --nproc_per_node N -m corpustune train --out RUN ...`
(only rank 0 prints and writes).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from corpustune.cli.options import RunFolder, SettingsOptions, with_settings_options
from corpustune.cli.stage import read_checked_corpus, run_stage_command
from corpustune.data.beir import beir_file, qrels_file
from corpustune.errors import InputError
from corpustune.layout import RunLayout
from corpustune.pipeline.runner import run_lock
from corpustune.plural import counted

Opt = typer.Option


@with_settings_options
def command(
    out: RunFolder,
    settings: SettingsOptions,
    loss: Annotated[str | None, Opt(help="listwise, infonce or combined.")] = None,
    model: Annotated[str | None, Opt(help="Student: alias, local folder or hub id.")] = None,
    epochs: Annotated[int | None, Opt(help="Most epochs (early stopping on dev loss).")] = None,
    queries_per_step: Annotated[int | None, Opt(help="Queries per optimizer step, all ranks.")] = None,
    list_size: Annotated[int | None, Opt(help="Passages per list, positive included.")] = None,
    learning_rate: Annotated[float | None, Opt(help="Peak AdamW learning rate.")] = None,
    query_max_tokens: Annotated[int | None, Opt(help="Query token limit.")] = None,
    passage_max_tokens: Annotated[int | None, Opt(help="Passage token limit.")] = None,
    query_prompt: Annotated[str | None, Opt(help="Text put before every query, e.g. 'query: '.")] = None,
    passage_prompt: Annotated[str | None, Opt(help="Text put before every passage, e.g. 'passage: '.")] = None,
    seed: Annotated[int | None, Opt(help="Random seed.")] = None,
    human_split: Annotated[
        str | None,
        Opt(help="Baseline: train InfoNCE on the human (query, positive) pairs of --data's qrels/<split>.tsv "
            "into RUN/baselines/human-<split>/."),
    ] = None,
    restart: Annotated[bool, Opt("--restart", help="Discard the stage's checkpoints and train from scratch.")] = False,
    device: Annotated[str | None, Opt(help="cpu or cuda (default: cuda when available).")] = None,
) -> None:
    """Listwise distillation + InfoNCE; the best model (by dev loss) is saved to RUN/model. Any other
    setting: --set train.KEY=VALUE (see `corpustune config`)."""
    from corpustune.parallel import init_distributed, shutdown_distributed

    shortcuts = {
        "train.loss": loss, "train.model": model, "train.epochs": epochs, "train.queries_per_step": queries_per_step,
        "train.list_size": list_size, "train.learning_rate": learning_rate, "train.query_max_tokens": query_max_tokens,
        "train.passage_max_tokens": passage_max_tokens, "train.query_prompt": query_prompt,
        "train.passage_prompt": passage_prompt, "train.seed": seed,
    }
    if human_split is not None:
        if shortcuts["train.loss"] not in (None, "infonce"):
            raise InputError("human qrels have no teacher scores: use --loss infonce with --human-split")
        shortcuts["train.loss"] = "infonce"
    resolved = settings.resolve(shortcuts)
    context = init_distributed(device)
    if human_split is not None:
        _train_on_human_qrels(resolved, out, human_split, context, restart)
    else:
        outcome = run_stage_command("train", resolved, out, context, fresh=restart)
        if context.is_main and outcome is not None:
            work, model_dir = RunLayout(out).arm_dirs(resolved.train.loss, main=True)
            print(f"wrote {model_dir} (load with SentenceTransformer(path); `corpustune run` then chooses what to "
                  f"publish as {RunLayout(out).model_dir}); log {work / 'log.jsonl'}")
    shutdown_distributed()


def _train_on_human_qrels(settings, out: Path, split: str, context, restart: bool) -> None:
    """The human-qrels baseline: not a pipeline stage, so it has a folder of its own."""
    from corpustune.train.batching import qrels_examples, split_by_source
    from corpustune.train.trainer import Trainer

    data = Path(settings.data.path)
    passages = {p.id: p for p in read_checked_corpus(settings, ["train"], context.is_main, out)}
    qrels_path = qrels_file(data, split)
    examples, load_report = qrels_examples(beir_file(data, "queries.jsonl"), qrels_path, passages)
    if not examples:
        raise InputError(f"{qrels_path}: no training pairs")
    train, dev = split_by_source(examples, settings.train.dev_fraction, settings.train.seed)
    work = RunLayout(out).human_baseline_dir(split)
    if context.is_main:
        print(f"human qrels {qrels_path}: {load_report.summary()}; {len(train):,} training and "
              f"{counted(len(dev), 'dev query', 'dev queries')}")
    with run_lock(out) if context.is_main else nullcontext():
        trainer = Trainer(settings.train, train, dev, passages, work, work / "model", context=context,
                          data_card={"lists": f"human qrels {qrels_path}", "corpus": str(data)})
        state = trainer.train(resume=not restart)
    if context.is_main:
        best = "n/a" if state.best_dev_loss is None else f"{state.best_dev_loss:.5f}"
        how = "stopped early" if state.stopped_early else "finished"
        print(f"{how} after {state.global_step:,} steps ({state.epoch} epochs); best dev loss {best}")
        print(f"wrote {work / 'model'} (load with SentenceTransformer(path)); log {work / 'log.jsonl'}")
