"""The process group under `torchrun` / `accelerate launch`, shared by every stage.

Mining, scoring and training all read their rank from the environment torchrun sets (RANK,
WORLD_SIZE, LOCAL_RANK), put their models on `Context.device` and split work with `shard`. A
plain process is rank 0 of a world of 1 and never touches torch.distributed.

Each rank computes on its own GPU, `cuda:{LOCAL_RANK}`: without `torch.cuda.set_device`, every
rank of a node would put its models on cuda:0 (and NCCL would see one device for all ranks).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among `world_size` processes and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the rank among the processes of this machine: the index of its GPU
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> Context:
    """Join the process group that the environment describes, if any; safe to call again.

    `device` is "cpu" to stay off GPUs, or None / "cuda" for a GPU when there is one. With
    WORLD_SIZE > 1 each rank takes GPU LOCAL_RANK and joins NCCL, or gloo on CPUs; a group that
    is already joined is kept, so every stage of one process can call this.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if world_size <= 1:
        return Context(device=torch.device(device or ("cuda" if use_cuda else "cpu")))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)  # before NCCL starts: it binds each rank to the current device
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    chosen = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    return Context(rank, world_size, local_rank, chosen)


def shutdown_distributed() -> None:
    """Wait for every rank, then leave the process group.

    A rank that exits while the group is alive can take gloo's threads down with it
    ("terminate called without an active exception") and fail the whole launch.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(context: Context) -> None:
    """Wait until every rank gets here; nothing to wait for in a single process."""
    if context.distributed:
        dist.barrier()


def shard(items: Sequence[T], context: Context) -> list[T]:
    """This rank's round-robin share of `items`: item i goes to rank i mod world size."""
    return list(items[context.rank :: context.world_size])


def contiguous_share(count: int, context: Context) -> range:
    """This rank's contiguous share of `count` items (e.g. blocks of corpus rows): rank r takes
    [r * count // world, (r + 1) * count // world), so the shares are in rank order, differ in
    size by at most one and together cover every item once."""
    return range(context.rank * count // context.world_size, (context.rank + 1) * count // context.world_size)


def broadcast(value: T, context: Context) -> T:
    """Rank 0's `value` on every rank (any picklable object); the value itself in a single process."""
    if not context.distributed:
        return value
    box = [value if context.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
