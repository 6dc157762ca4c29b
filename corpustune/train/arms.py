"""Training the main loss arm and any ablation arms of a run on the same scored lists."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.train.batching import load_scored_examples, split_by_source
from corpustune.train.config import LossArm, TrainConfig


def arm_names(main: LossArm, ablation: Sequence[LossArm]) -> list[LossArm]:
    """The main arm first, then each other ablation arm once."""
    return [main] + [arm for arm in dict.fromkeys(ablation) if arm != main]


def arm_model_dir(run_dir: Path, arm: str, main: bool) -> Path:
    """Where an arm's model goes: the main arm to RUN/model, ablation arms beside their logs."""
    return run_dir / "model" if main else run_dir / "train" / arm / "model"


def train_arms(
    run_dir: Path, passages: dict[str, Passage], config: TrainConfig, ablation: Sequence[LossArm] = ()
) -> list[Path]:
    """Train every arm (resuming from its checkpoints) and return the model folders, main first.

    All arms share the lists of RUN/scores/scores.jsonl and one dev split, so they differ only
    in the loss.
    """
    from corpustune.train.trainer import Trainer

    examples, report = load_scored_examples(run_dir, passages, config.list_size)
    if not examples:
        raise InputError(f"{run_dir / 'scores' / 'scores.jsonl'}: no training lists ({report.summary()})")
    train, dev = split_by_source(examples, config.dev_fraction, config.seed)
    print(f"{report.summary()}; {len(train):,} training and {len(dev):,} dev queries")
    folders = []
    for arm in arm_names(config.loss, ablation):
        main = arm == config.loss
        model_dir = arm_model_dir(run_dir, arm, main)
        print(f"training arm {arm!r} -> {model_dir}")
        trainer = Trainer(
            config.model_copy(update={"loss": arm}), train, dev, passages, run_dir / "train" / arm, model_dir,
            data_card={"lists": str(run_dir / "scores" / "scores.jsonl"), "loss arm": arm},
        )
        trainer.train(resume=True)
        folders.append(model_dir)
    return folders
