"""The one process-group helper: each torchrun rank takes its own GPU, a plain process stays plain."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from corpustune.parallel import Context, contiguous_share, init_distributed, shard


@pytest.fixture
def fake_group(monkeypatch):
    """A process group that only records how it was joined (no GPU, no processes needed)."""
    calls = {"set_device": [], "init_process_group": []}
    joined = []
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls["set_device"].append(index))
    monkeypatch.setattr(dist, "is_initialized", lambda: bool(joined))

    def init_process_group(backend=None, **options):
        calls["init_process_group"].append(backend)
        joined.append(True)

    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    return calls


def torchrun_environment(monkeypatch, rank: int, world_size: int, local_rank: int) -> None:
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world_size))
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))


def test_each_rank_computes_on_the_gpu_of_its_local_rank(monkeypatch, fake_group):
    torchrun_environment(monkeypatch, rank=3, world_size=4, local_rank=1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    context = init_distributed()
    assert context == Context(rank=3, world_size=4, local_rank=1, device=torch.device("cuda:1"))
    assert fake_group == {"set_device": [1], "init_process_group": ["nccl"]}
    assert context.distributed and not context.is_main


def test_a_second_call_keeps_the_group(monkeypatch, fake_group):
    torchrun_environment(monkeypatch, rank=1, world_size=2, local_rank=1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert init_distributed() == init_distributed()
    assert fake_group["init_process_group"] == ["nccl"]


def test_cpu_ranks_join_gloo_and_leave_the_gpus_alone(monkeypatch, fake_group):
    torchrun_environment(monkeypatch, rank=1, world_size=2, local_rank=1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    context = init_distributed("cpu")
    assert context == Context(rank=1, world_size=2, local_rank=1, device=torch.device("cpu"))
    assert fake_group == {"set_device": [], "init_process_group": ["gloo"]}


def test_a_plain_process_never_touches_torch_distributed(monkeypatch, fake_group):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert init_distributed() == Context()
    assert fake_group == {"set_device": [], "init_process_group": []}


def test_shards_are_round_robin_and_cover_everything_once():
    items = list(range(7))
    parts = [shard(items, Context(rank=r, world_size=3)) for r in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    assert shard(items, Context()) == items


def test_contiguous_shares_are_in_rank_order_and_cover_everything_once():
    assert [contiguous_share(7, Context(rank=r, world_size=3)) for r in range(3)] == [range(0, 2), range(2, 4),
                                                                                      range(4, 7)]
    assert [contiguous_share(1, Context(rank=r, world_size=2)) for r in range(2)] == [range(0, 0), range(0, 1)]
    assert contiguous_share(5, Context()) == range(5)
