"""Training runs launched as separate processes by the tests (torchrun ranks, killed runs).

usage: python tests/train_worker.py steps MODEL OUT [TUNE] (any world size; rank 0 writes OUT/result.pt)
       python tests/train_worker.py run MODEL OUT [KILL_AT_STEP]
       python tests/train_worker.py dropout-run MODEL OUT [KILL_AT_STEP] (`run`, dropout 0.1, 40-token chunks)
       python tests/train_worker.py heads OUT             (any world size; rank 0 writes OUT/heads.pt)
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from corpustune.parallel import init_distributed, shutdown_distributed
from corpustune.train.config import TrainConfig
from corpustune.train.distributed import all_reduce_gradients
from corpustune.train.trainer import Trainer
from tests.train_fixtures import head_loss, three_heads, tiny_examples, tiny_passage_map

torch.set_num_threads(1)


def steps_config(model: str, tune: str = "both") -> TrainConfig:
    # 5 queries per step: uneven shares over 2 ranks; a small chunk budget: gradient caching on;
    # fp32, as the comparison's tolerance is fp32's (tests/test_train_bf16.py covers bf16)
    return TrainConfig(model=model, tune=tune, queries_per_step=5, chunk_tokens=40, epochs=1, mask_fraction=0.3,
                       precision="fp32",
                       teacher_temperature="auto", query_max_tokens=16, passage_max_tokens=24, learning_rate=1e-3)


def run_config(model: str) -> TrainConfig:
    return TrainConfig(model=model, queries_per_step=3, epochs=3, checkpoint_every_steps=2, dev_fraction=0.2,
                       teacher_temperature="auto",
                       patience=5, query_max_tokens=16, passage_max_tokens=24, learning_rate=1e-3, seed=7)


def two_steps(model: str, out: Path, tune: str) -> None:
    """Two optimizer steps on fixed batches; rank 0 saves losses and the updated weights."""
    examples = tiny_examples()
    trainer = Trainer(steps_config(model, tune), examples, [], tiny_passage_map(), out / "train", show_progress=False)
    losses = [trainer.step(examples[:5]).loss, trainer.step(examples[5:]).loss]
    if trainer.context.is_main:
        torch.save({"losses": losses, "state": trainer.model.state_dict()}, out / "result.pt")


def heads_step(out: Path) -> None:
    """One AdamW step (with weight decay) of `three_heads` on each rank's `head_loss`; rank 0 saves
    the gradients and the updated weights."""
    context = init_distributed("cpu")
    model = three_heads()
    head_loss(model, context.rank).backward()
    all_reduce_gradients(list(model.parameters()), context)
    torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5).step()
    if context.is_main:
        grads = {name: p.grad for name, p in model.named_parameters()}
        torch.save({"grads": grads, "state": model.state_dict()}, out / "heads.pt")


def full_run(model: str, out: Path, kill_at: int | None, dropout: float = 0.0) -> None:
    from corpustune.train.batching import split_by_source

    config = run_config(model)
    if dropout:  # small chunks: the ranks encode different numbers of chunks, so their RNG streams part
        config = config.model_copy(update={"dropout": dropout, "chunk_tokens": 40})
    train, dev = split_by_source(tiny_examples(), config.dev_fraction, config.seed)

    def kill(trainer, result) -> None:
        if trainer.state.global_step == kill_at:  # a step after a checkpoint: its work is lost
            os.kill(os.getpid(), signal.SIGKILL)

    Trainer(config, train, dev, tiny_passage_map(), out / "train", out / "model", callbacks=[kill],
            show_progress=False).train()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "heads":
        heads_step(Path(sys.argv[2]))
    elif mode == "steps":
        two_steps(sys.argv[2], Path(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "both")
    else:
        full_run(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None,
                 dropout=0.1 if mode == "dropout-run" else 0.0)
    shutdown_distributed()
