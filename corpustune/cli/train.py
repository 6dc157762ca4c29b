"""`corpustune train`: train the student on the run's scored lists (or on human qrels).

Runs as one process, or data-parallel under `torchrun --nproc_per_node N -m corpustune -- train ...`
(only rank 0 prints and writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from corpustune.cli.options import DataPath
from corpustune.data.atomic import write_json_atomic
from corpustune.data.corpus import CorpusSpec, ReadReport, read_passages
from corpustune.errors import InputError

Opt = typer.Option


def command(
    run: Annotated[Path, Opt("--run", help="Run folder: reads scores/ and queries/, writes train/ and model/.")],
    data: DataPath,
    loss: Annotated[str | None, Opt(help="listwise, infonce or combined (default combined).")] = None,
    model: Annotated[str | None, Opt(help="Student: alias, local folder or hub id (default minilm).")] = None,
    config: Annotated[Path | None, Opt(help="JSON/YAML file of training settings; options below override it.")] = None,
    epochs: Annotated[int | None, Opt(help="Most epochs (default 30; early stopping on dev loss).")] = None,
    queries_per_step: Annotated[int | None, Opt(help="Queries per optimizer step, all ranks (default 64).")] = None,
    list_size: Annotated[int | None, Opt(help="Passages per list, positive included (default 20).")] = None,
    learning_rate: Annotated[float | None, Opt(help="Peak AdamW learning rate (default 2e-4).")] = None,
    query_max_tokens: Annotated[int | None, Opt(help="Query token limit (default 64).")] = None,
    passage_max_tokens: Annotated[int | None, Opt(help="Passage token limit (default 512).")] = None,
    query_prompt: Annotated[str | None, Opt(help="Text put before every query, e.g. 'query: '.")] = None,
    passage_prompt: Annotated[str | None, Opt(help="Text put before every passage, e.g. 'passage: '.")] = None,
    chunk_tokens: Annotated[int | None, Opt(help="Padded tokens per encoder chunk (memory bound).")] = None,
    seed: Annotated[int | None, Opt(help="Random seed (default 13).")] = None,
    human_split: Annotated[
        str | None,
        Opt(help="Baseline: train InfoNCE on the human (query, positive) pairs of --data's qrels/<split>.tsv."),
    ] = None,
    restart: Annotated[bool, Opt("--restart", help="Ignore an existing checkpoint and train from scratch.")] = False,
    device: Annotated[str | None, Opt(help="cpu or cuda (default: cuda when available).")] = None,
) -> None:
    """Listwise distillation + InfoNCE; the best model (by dev loss) is saved to RUN/model."""
    from corpustune.train.batching import load_scored_examples, qrels_examples, split_by_source
    from corpustune.train.config import TrainConfig
    from corpustune.parallel import init_distributed, shutdown_distributed
    from corpustune.train.trainer import Trainer

    settings = _read_settings(config) if config else {}
    overrides = {
        "loss": loss, "model": model, "epochs": epochs, "queries_per_step": queries_per_step, "list_size": list_size,
        "learning_rate": learning_rate, "query_max_tokens": query_max_tokens,
        "passage_max_tokens": passage_max_tokens, "query_prompt": query_prompt, "passage_prompt": passage_prompt,
        "chunk_tokens": chunk_tokens, "seed": seed,
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if human_split is not None and settings.setdefault("loss", "infonce") != "infonce":
        raise InputError("human qrels have no teacher scores: use --loss infonce with --human-split")
    try:
        train_config = TrainConfig(**settings)
    except ValueError as error:
        raise InputError(f"bad training settings: {error}") from None
    context = init_distributed(device)
    report = ReadReport()
    passages = {p.id: p for p in read_passages(CorpusSpec(path=data), report)}
    if human_split is not None:
        examples, load_report = qrels_examples(data / "queries.jsonl", data / "qrels" / f"{human_split}.tsv", passages)
        source = f"human qrels {data / 'qrels' / f'{human_split}.tsv'}"
    else:
        examples, load_report = load_scored_examples(run, passages, train_config.list_size)
        source = str(run / "scores" / "scores.jsonl")
    if not examples:
        raise InputError(f"{source}: no training lists")
    train, dev = split_by_source(examples, train_config.dev_fraction, train_config.seed)
    if context.is_main:
        print(f"{data}: {report.summary()}")
        print(f"{source}: {load_report.summary()}; {len(train):,} training and {len(dev):,} dev queries")
        write_json_atomic(run / "train" / "config.json", json.loads(train_config.model_dump_json()))
    trainer = Trainer(
        train_config, train, dev, passages, run / "train", run / "model", context=context,
        data_card={"lists": source, "corpus": str(data), "distinct passages in lists": f"{_distinct(examples):,}"},
    )
    state = trainer.train(resume=not restart)
    shutdown_distributed()
    if context.is_main:
        best = "n/a" if state.best_dev_loss is None else f"{state.best_dev_loss:.5f}"
        how = "stopped early" if state.stopped_early else "finished"
        print(f"{how} after {state.global_step:,} steps ({state.epoch} epochs); best dev loss {best}")
        print(f"wrote {run / 'model'} (load with SentenceTransformer(path)); log {run / 'train' / 'log.jsonl'}")


def _read_settings(path: Path) -> dict:
    if not path.exists():
        raise InputError(f"{path}: settings file not found")
    text = path.read_text(encoding="utf-8")
    try:
        settings = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise InputError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {error}") from None
    if not isinstance(settings, dict):
        raise InputError(f"{path}: expected a mapping of training settings")
    return settings.get("train", settings)


def _distinct(examples) -> int:
    return len({p for e in examples for p in e.passage_ids})
