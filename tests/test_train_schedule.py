"""Learning-rate schedule and the epoch plan, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from corpustune.train.batching import epoch_steps, shard
from corpustune.train.trainer import schedule


def test_warmup_then_linear_decay_to_floor():
    factor = schedule(total_steps=10, warmup_steps=4, floor=0.1)
    assert [factor(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factor(4) == pytest.approx(1.0)
    assert factor(7) == pytest.approx(0.1 + 0.9 * 3 / 6)
    assert factor(10) == pytest.approx(0.1) and factor(12) == pytest.approx(0.1)


def test_epoch_plan_is_a_seeded_permutation_per_epoch():
    a, b = epoch_steps(10, 4, seed=3, epoch=0), epoch_steps(10, 4, seed=3, epoch=1)
    assert [len(s) for s in a] == [4, 4, 2]
    assert sorted(np.concatenate(a).tolist()) == list(range(10))
    assert not np.array_equal(np.concatenate(a), np.concatenate(b))
    assert all(np.array_equal(x, y) for x, y in zip(a, epoch_steps(10, 4, seed=3, epoch=0)))


def test_shards_cover_everything_once():
    parts = [shard(7, r, 3) for r in range(3)]
    assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 5), (5, 7)]
    assert shard(1, 1, 2) == slice(1, 1)
