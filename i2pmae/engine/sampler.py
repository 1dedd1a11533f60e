"""Batches as a pure function of (seed, epoch, step, shard).

Every optimiser step takes the next *global batch* of a seeded permutation and
splits it into shards of ``batch_size``; shard ``j = rank * accum_steps + micro``.
So one process with ``accum_steps=2`` sees exactly the samples that two DDP
ranks with ``accum_steps=1`` see, and a resumed run continues mid-epoch with
the very batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


def mix_seed(*parts: int) -> int:
    """Combine integers into one 63-bit seed (splitmix64-style, stable across runs)."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x ^= (int(p) + 0x9E3779B97F4A7C15 + ((x << 6) & 0xFFFFFFFFFFFFFFFF) + (x >> 2)) & 0xFFFFFFFFFFFFFFFF
        x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x & 0x7FFFFFFFFFFFFFFF


class StepBatchSampler(Sampler[list[int]]):
    """Yields this process's micro-batches of one epoch (drop-last semantics)."""

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        accum_steps: int = 1,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        if batch_size < 1 or accum_steps < 1:
            raise ValueError(f"batch_size and accum_steps must be >= 1, got {batch_size} and {accum_steps}")
        self.num_items = num_items
        self.batch_size = batch_size
        self.accum_steps = accum_steps
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.start_step = 0
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"the training set has {num_items} items, fewer than one global batch "
                f"({batch_size} per process x {accum_steps} accumulation steps x {world_size} processes = "
                f"{self.global_batch}); lower train.batch_size or add data"
            )

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.accum_steps * self.world_size

    @property
    def steps_per_epoch(self) -> int:
        return self.num_items // self.global_batch

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch = epoch
        self.start_step = start_step

    def permutation(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_items)
        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, 17))
        return torch.randperm(self.num_items, generator=g)

    def __iter__(self) -> Iterator[list[int]]:
        perm = self.permutation()
        b = self.batch_size
        for step in range(self.start_step, self.steps_per_epoch):
            base = step * self.global_batch
            for micro in range(self.accum_steps):
                shard = self.rank * self.accum_steps + micro
                yield perm[base + shard * b : base + (shard + 1) * b].tolist()

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_step) * self.accum_steps
