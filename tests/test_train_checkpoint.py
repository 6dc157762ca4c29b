"""Checkpoints: an exact round trip of weights, optimizer, scheduler and RNGs; RNG states restored
on the CPU whatever the model's device; nothing in a checkpoint runs code when it is loaded."""

from __future__ import annotations

import random

import numpy as np
import pytest
import safetensors.torch
import torch

from corpustune.errors import InputError
from corpustune.train.checkpoint import load_checkpoint, save_checkpoint


def small_training(device: str = "cpu"):
    """A two-layer model with AdamW and a decaying LambdaLR, as the trainer builds them."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (step + 1))
    return model, optimizer, scheduler


def one_step_checkpoint(root):
    model, optimizer, scheduler = small_training()
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    folder = save_checkpoint(root, model, optimizer, scheduler, {"global_step": 1})
    return folder, model, optimizer


def draws() -> tuple[float, float, float]:
    """The next number of each RNG the training loop uses."""
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def scramble() -> None:
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)


def test_checkpoint_round_trip_restores_weights_optimizer_scheduler_and_rngs(tmp_path):
    folder, model, optimizer = one_step_checkpoint(tmp_path)
    expected = draws()
    scramble()
    restored, restored_optimizer, restored_scheduler = small_training()
    loop = load_checkpoint(folder, restored, restored_optimizer, restored_scheduler, torch.device("cpu"))
    assert loop == {"global_step": 1}
    assert draws() == expected
    for a, b in zip(model.parameters(), restored.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(optimizer.state.values(), restored_optimizer.state.values()):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert restored_scheduler.last_epoch == 1 and restored_scheduler.get_last_lr() == pytest.approx([5e-3])


@pytest.mark.filterwarnings("ignore:for .* copying from a non-meta parameter")  # weights do not matter here
def test_rng_states_are_restored_as_cpu_tensors_when_the_model_is_elsewhere(tmp_path, monkeypatch):
    # A model on another device (here `meta`, as a GPU would be) must not pull the CPU RNG state there:
    # torch.set_rng_state only accepts a CPU byte tensor.
    def load_weights_on_the_cpu(model, filename, device):  # safetensors reads to a GPU, but not to meta
        model.load_state_dict(safetensors.torch.load_file(filename))

    monkeypatch.setattr(safetensors.torch, "load_model", load_weights_on_the_cpu)
    folder, _, _ = one_step_checkpoint(tmp_path)
    expected = draws()
    scramble()
    model, optimizer, scheduler = small_training("meta")
    load_checkpoint(folder, model, optimizer, scheduler, torch.device("meta"))
    assert draws() == expected
    assert next(iter(optimizer.state.values()))["exp_avg"].device.type == "meta"  # the optimizer follows the model


class Planted:
    """A pickled object that creates a file when it is unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_training_state_that_would_run_code_is_refused(tmp_path):
    folder, _, _ = one_step_checkpoint(tmp_path / "checkpoints")
    marker = tmp_path / "planted"
    torch.save({"optimizer": Planted(marker), "scheduler": {}}, folder / "training_state.pt")
    model, optimizer, scheduler = small_training()
    with pytest.raises(InputError, match="training_state.pt holds objects other than tensors"):
        load_checkpoint(folder, model, optimizer, scheduler, torch.device("cpu"))
    assert not marker.exists()


def test_each_rank_gets_back_its_own_rng_state_and_an_older_single_state_still_loads(tmp_path):
    import json

    from corpustune.train.checkpoint import rng_state

    model, optimizer, scheduler = small_training()
    torch.manual_seed(10)
    rank0 = rng_state()
    expected0 = draws()
    torch.manual_seed(11)
    rank1 = rng_state()
    expected1 = draws()
    folder = save_checkpoint(tmp_path, model, optimizer, scheduler, {"global_step": 1}, [rank0, rank1])
    for rank, expected in ((1, expected1), (0, expected0)):
        scramble()
        load_checkpoint(folder, *small_training(), torch.device("cpu"), rank)
        assert draws() == expected
    (folder / "rng.json").write_text(json.dumps(rank1))  # the format before per-rank states
    scramble()
    load_checkpoint(folder, *small_training(), torch.device("cpu"), 0)
    assert draws() == expected1
