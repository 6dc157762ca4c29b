"""Training the main loss arm, and the ablation arms, of a run on the same scored lists.

The main arm writes its model to RUN/model and its log and checkpoints to RUN/train/<arm>/;
an ablation arm writes everything to RUN/ablation/<arm>/ (model in its `model/` folder), so
adding an ablation arm later never retrains the main model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.train.batching import Example, load_scored_examples, split_by_source
from corpustune.train.config import LossArm, TrainConfig


def ablation_arms(main: LossArm, ablation: Sequence[LossArm]) -> list[LossArm]:
    """The ablation arms other than the main one, each once, in the given order."""
    return [arm for arm in dict.fromkeys(ablation) if arm != main]


def arm_dirs(run_dir: Path, arm: str, main: bool) -> tuple[Path, Path]:
    """(work folder for log and checkpoints, model folder) of one arm."""
    if main:
        return run_dir / "train" / arm, run_dir / "model"
    return run_dir / "ablation" / arm, run_dir / "ablation" / arm / "model"


def _split(run_dir: Path, passages: dict[str, Passage], config: TrainConfig) -> tuple[list[Example], list[Example]]:
    examples, report = load_scored_examples(run_dir, passages, config.list_size)
    if not examples:
        raise InputError(f"{run_dir / 'scores' / 'scores.jsonl'}: no training lists ({report.summary()})")
    train, dev = split_by_source(examples, config.dev_fraction, config.seed)
    print(f"{report.summary()}; {len(train):,} training and {len(dev):,} dev queries")
    return train, dev


def train_arms(
    run_dir: Path, passages: dict[str, Passage], config: TrainConfig, arms: Sequence[LossArm]
) -> list[Path]:
    """Train each arm (resuming from its checkpoints) on one shared dev split; returns the model
    folders. An arm equal to `config.loss` is the main arm."""
    from corpustune.train.trainer import Trainer

    if not arms:
        return []
    train, dev = _split(run_dir, passages, config)
    folders = []
    for arm in arms:
        work, model_dir = arm_dirs(run_dir, arm, arm == config.loss)
        print(f"training arm {arm!r} -> {model_dir}")
        trainer = Trainer(
            config.model_copy(update={"loss": arm}), train, dev, passages, work, model_dir,
            data_card={"lists": str(run_dir / "scores" / "scores.jsonl"), "loss arm": arm},
        )
        trainer.train(resume=True)
        folders.append(model_dir)
    return folders
