"""Process sharding under `torchrun`: rank and world size from the environment, a gloo barrier.

A plain process is rank 0 of a world of 1 and never touches torch.distributed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def rank_and_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def my_slice(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Round-robin share of `items` for `rank` (item i goes to rank i mod world)."""
    return list(items[rank::world])


class Group:
    """Joins the torchrun process group (gloo, so CPUs work) when the world has several ranks."""

    def __init__(self) -> None:
        self.rank, self.world = rank_and_world()
        self._joined = False

    def __enter__(self) -> Group:
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("gloo")
                self._joined = True
        return self

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def __exit__(self, *exc_info) -> None:
        if self._joined:
            import torch.distributed as dist

            dist.destroy_process_group()
