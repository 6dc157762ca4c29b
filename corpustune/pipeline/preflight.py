"""Check what the stages of a run will read before the first one starts.

A run that would fail at its evaluation stage (a broken human `queries.jsonl`, qrels of another
corpus) or at loading a model (an alias of the wrong kind, a path that is not a model, a hub id
that cannot be fetched) fails here in seconds instead, before any folder is written. Each stage
names its checks; `corpustune run` runs those of every stage and a stage command those of its
own stage.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from corpustune.config import RunConfig
from corpustune.data.beir import check_splits, qrels_file, split_names
from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.models.check import token_limit
from corpustune.models.resolve import check_model, local_model_path
from corpustune.plural import counted

Check = Callable[[RunConfig, list[Passage]], list[str]]
"""One check: raises for an input that would fail, returns warnings."""


def check_inputs(config: RunConfig, passages: list[Passage], stages: Collection[str] | None = None) -> list[str]:
    """Raise InputError (or ModelNotFoundError) for the first input of `stages` (None: of every
    stage) that would fail; returns warnings about inputs that work but may not be what was meant."""
    checks: dict[str, tuple[Check, ...]] = {  # data files first, then models
        "select": (_splits, _human), "evaluate": (_splits, _human), "generate": (_generation_plan, _generate),
        "mine": (_mine,), "score": (_score,), "train": (_student,), "ablation": (_student,),
    }
    chosen = [check for stage in (checks if stages is None else stages) if stage in checks for check in checks[stage]]
    warnings: list[str] = []
    for check in dict.fromkeys(chosen):
        warnings += check(config, passages)
    return warnings


def _generate(config: RunConfig, passages: list[Passage]) -> list[str]:
    """The query types load, every `generate.counts` entry names one of them, the model fits the backend."""
    from corpustune.generate.types import configured_types

    settings = config.generate
    names = [t.name for t in configured_types(settings)]
    unknown = [name for name in settings.counts if name not in names]
    if unknown:
        raise InputError(
            f"generate.counts (--count) names {', '.join(map(repr, unknown))}, which is not a query type of this "
            f"run ({', '.join(names)}); check the spelling, or add the type with --types"
        )
    roles = {"llamacpp": "gguf", "vllm": "llm", "transformers": "llm"}
    if settings.backend.name in roles:
        check_model(settings.backend.model, roles[settings.backend.name])
    return []


def _generation_plan(config: RunConfig, passages: list[Passage]) -> list[str]:
    """Generation has a query type to ask for, and its sample leaves passages to train on after
    the held-out ones (the sample is drawn as the generate stage draws it)."""
    from corpustune.generate.sampling import sample_passages
    from corpustune.generate.types import BUILTIN_TYPES

    settings = config.generate
    if not settings.type_names():
        raise InputError(f"generate.types is empty, so no query would be generated and nothing trained; name at "
                         f"least one type (built-in: {', '.join(BUILTIN_TYPES)}, or the path of a YAML type), or "
                         f"give --example-queries")
    sample = sample_passages(passages, seed=settings.seed, max_passages=settings.max_passages,
                             min_chars=settings.min_passage_chars, heldout_count=settings.heldout_count,
                             heldout_max_fraction=settings.heldout_max_fraction)
    if not sample.passages:
        raise InputError(f"{config.data.path}: none of the {counted(len(passages), 'passage')} is eligible for "
                         f"generation ({sample.skipped_short:,} shorter than generate.min_passage_chars = "
                         f"{settings.min_passage_chars}, {sample.skipped_duplicate:,} repeat an earlier text); "
                         f"lower generate.min_passage_chars or give a corpus with longer passages")
    if len(sample.heldout_ids) >= len(sample.passages):
        raise InputError(
            f"generate.heldout_count = {settings.heldout_count} and generate.heldout_max_fraction = "
            f"{settings.heldout_max_fraction:g} hold out all {counted(len(sample.passages), 'sampled passage')} "
            f"(generate.max_passages = {settings.max_passages}), so none is left to train on; lower "
            f"generate.heldout_count or generate.heldout_max_fraction, or sample more passages"
        )
    return []


def _mine(config: RunConfig, passages: list[Passage]) -> list[str]:
    for index, dense in enumerate(config.mine.dense):
        check_model(dense.model, "embedding")
        if dense.max_seq_length is not None:
            check_token_limit(dense.model, {f"mine.dense.{index}.max_seq_length": dense.max_seq_length})
    return []


def _score(config: RunConfig, passages: list[Passage]) -> list[str]:
    from corpustune.teach.config import DEFAULT_MODELS

    roles = {"cross-encoder": "cross-encoder", "biencoder": "biencoder", "llm": "llm"}
    for index, teacher in enumerate(config.score.teachers):
        model = teacher.model or DEFAULT_MODELS[teacher.kind]
        if teacher.kind in roles and model is None:
            raise InputError(f"teacher {teacher.kind!r} needs a model: give it as --teacher {teacher.kind}:MODEL "
                             f"(an alias, a local path or a hub id)")
        if teacher.kind in roles:
            check_model(model, "gguf" if teacher.kind == "llm" and teacher.llm_backend == "llamacpp"
                        else roles[teacher.kind])
        if teacher.kind in ("cross-encoder", "biencoder"):
            check_token_limit(model, {f"score.teachers.{index}.max_length": teacher.max_length})
    return []


def _student(config: RunConfig, passages: list[Passage]) -> list[str]:
    check_model(config.train.model, "embedding")
    check_token_limit(config.train.model, {"train.query_max_tokens": config.train.query_max_tokens,
                                           "train.passage_max_tokens": config.train.passage_max_tokens})
    return []


def check_token_limit(model: str, settings: dict[str, int]) -> None:
    """Raise InputError when a token setting (its setting path or option -> its value) is above
    what `model` takes per text (`models.check.token_limit`): the model would fail at its first
    longer text, in the middle of a stage. A hub id, or a model whose config does not say, is
    left to load time."""
    path = local_model_path(model)
    limit = token_limit(path) if path is not None and path.is_dir() else None
    for name, value in settings.items():
        if limit is not None and value > limit:
            raise InputError(f"{name} = {value}, but the model {model} takes at most {limit} tokens per text (its "
                             f"max_position_embeddings / model_max_length); set {name} to {limit} or less")


def _splits(config: RunConfig, passages: list[Passage]) -> list[str]:
    """The evaluation split is one the data folder has (when it has any), and not the split that decides."""
    data, split, dev = Path(config.data.path), config.evaluate.split, config.select.dev_split
    if dev is not None and dev == split:
        raise InputError(f"select.dev_split is {dev!r}, the evaluation split (evaluate.split): the published model "
                         f"must never be chosen on test queries; set select.dev_split to another split or to null")
    available = split_names(data) if data.is_dir() else []
    if split is not None and available and split not in available:
        raise InputError(
            f"{qrels_file(data, split)}: no qrels for evaluate.split {split!r}; the folder's splits: "
            f"{', '.join(available)}; set evaluate.split to one of them (e.g. --set evaluate.split={available[0]}), "
            f"or to null to evaluate on the held-out synthetic queries only"
        )
    return []


def _human(config: RunConfig, passages: list[Passage]) -> list[str]:
    """The human queries and qrels that selection and evaluation read, checked against the corpus."""
    data = Path(config.data.path)
    if not data.is_dir():
        return []
    splits = [split for split in (config.evaluate.split, config.select.dev_split) if split is not None]
    return check_splits(data, splits, {p.id for p in passages})
