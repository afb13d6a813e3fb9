"""Which examples each process sees at each step, and the per-step random seeds.

Batch contents are a pure function of (seed, step, micro-batch, process), so a resumed run sees
exactly the examples and random draws (noise, timesteps, dropout) of an uninterrupted one, with
any number of data-loading workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class StepSampler(Sampler[int]):
    """Global example indices for one process from ``start_step`` on.

    Example ``j`` of micro-batch ``m`` of optimizer step ``s`` on process ``r`` of ``world`` is
    global position ``((s * accumulation + m) * world + r) * batch + j``.
    """

    def __init__(self, start_step: int, max_steps: int, batch: int, accumulation: int, world: int, rank: int):
        self.start, self.stop = start_step, max_steps
        self.batch, self.accumulation, self.world, self.rank = batch, accumulation, world, rank

    def __len__(self) -> int:
        return (self.stop - self.start) * self.accumulation * self.batch

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start, self.stop):
            for micro in range(self.accumulation):
                first = ((step * self.accumulation + micro) * self.world + self.rank) * self.batch
                yield from range(first, first + self.batch)


class Shuffled(Dataset):
    """A finite data set seen in a new seeded order every epoch, addressed by global position."""

    def __init__(self, items: Sequence[Any], seed: int):
        if len(items) == 0:
            raise ValueError("the data set is empty")
        self.items, self.seed = items, seed

    def __len__(self) -> int:
        return 2**62  # positions, not items: every position maps to an item

    def __getitem__(self, position: int) -> Any:
        epoch, offset = divmod(position, len(self.items))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.items))
        return self.items[int(order[offset])]


def step_seed(seed: int, step: int, micro: int, rank: int) -> int:
    """The torch seed of one micro-batch on one process."""
    return int(np.random.default_rng([seed, step, micro, rank]).integers(2**62))


def seed_everything_for(seed: int, step: int, micro: int, rank: int) -> None:
    """Reseed torch (CPU and every GPU) for one micro-batch: noise, timesteps, dropout masks."""
    torch.manual_seed(step_seed(seed, step, micro, rank))
