"""The seeded per-epoch order of a folder's samples, resumable and shardable."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from tui_trainer.engine.distributed import shard_indices


class EpochSampler(Sampler[int]):
    """A seeded per-epoch permutation that can start part-way through (for exact resume).

    In a multi-process run (`rank`, `world_size`) it yields this rank's share of the permutation,
    split like TensorLoader's (`shard_indices`).
    """

    def __init__(self, n: int, seed: int, shuffle: bool) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch = 0
        self.start = 0
        self.rank, self.world_size, self.pad = 0, 1, True

    @property
    def shard_samples(self) -> int:
        """Samples this rank sees in one epoch."""
        w = self.world_size
        if w == 1:
            return self.n
        return -(-self.n // w) if self.pad else len(range(self.rank, self.n, w))

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=gen)
        else:
            order = torch.arange(self.n)
        order = shard_indices(order, self.rank, self.world_size, self.pad)
        return iter(order.tolist()[self.start :])

    def __len__(self) -> int:
        return self.shard_samples - self.start
