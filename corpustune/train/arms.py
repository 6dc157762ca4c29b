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
from corpustune.layout import RunLayout
from corpustune.parallel import Context
from corpustune.plural import counted
from corpustune.train.batching import Example, load_scored_examples, split_by_source
from corpustune.train.config import LossArm, TrainConfig


def ablation_arms(main: LossArm, ablation: Sequence[LossArm]) -> list[LossArm]:
    """The ablation arms other than the main one, each once, in the given order."""
    return [arm for arm in dict.fromkeys(ablation) if arm != main]


def _split(run_dir: Path, passages: dict[str, Passage], config: TrainConfig) -> tuple[list[Example], list[Example]]:
    examples, report = load_scored_examples(run_dir, passages, config.list_size)
    if not examples:
        raise InputError(f"{RunLayout(run_dir).scores_file}: no training lists ({report.summary()})")
    train, dev = split_by_source(examples, config.dev_fraction, config.seed)
    print(f"{report.summary()}; {len(train):,} training and {counted(len(dev), 'dev query', 'dev queries')}")
    return train, dev


def train_arms(
    run_dir: Path, passages: dict[str, Passage], config: TrainConfig, arms: Sequence[LossArm],
    context: Context | None = None,
) -> list[Path]:
    """Train each arm (resuming from its checkpoints) on one shared dev split; returns the model
    folders. An arm equal to `config.loss` is the main arm; `context` is the torchrun process
    group, if any (default: joined from the environment)."""
    from corpustune.train.trainer import Trainer

    if not arms:
        return []
    layout = RunLayout(run_dir)
    train, dev = _split(run_dir, passages, config)
    folders = []
    for arm in arms:
        work, model_dir = layout.arm_dirs(arm, arm == config.loss)
        print(f"training arm {arm!r} -> {model_dir}")
        trainer = Trainer(
            config.model_copy(update={"loss": arm}), train, dev, passages, work, model_dir,
            data_card={"lists": str(layout.scores_file), "loss arm": arm}, context=context,
        )
        trainer.train(resume=True)
        folders.append(model_dir)
    return folders
