"""What every file-backed loader shares: an epoch's batch plan read by one persistent DataLoader.

Image folders, detection labels and a user's own Dataset all make batches the same way: a seeded
per-epoch order (`EpochSampler`: sharded under DDP, resumable at a batch) is cut into the
epoch's batch sizes, each batch is a list of keys (a sample index, or an index with the seed of
its random draws), and a DataLoader whose `batch_sampler` is that plan reads them. The
DataLoader is made once and kept: its workers persist across epochs (`persistent_workers`),
prefetch `PREFETCH` batches each and, on CUDA, hand over pinned memory. Setting the next
epoch's plan is enough for the same workers to read it.

`PlannedLoader` holds that machinery; a loader supplies its Dataset, its keys and what it does
to a batch once it arrives (`FolderBatches`, `UserBatches`, `DetectionLoader`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import torch
from torch.utils.data import DataLoader, Dataset

from tui_trainer.engine.data.sampler import EpochSampler
from tui_trainer.engine.data.tensor_loader import epoch_batch_sizes

PREFETCH = 4
"""Batches each DataLoader worker prepares ahead."""

K = TypeVar("K")


def slot_seed(seed: int, epoch: int, slot: int) -> int:
    """The seed of the random draws of the sample at `slot` of `epoch`'s whole order.

    The slot is the sample's place in the order of the whole epoch (not of one rank's share),
    so a rank of a multi-process run draws what one process would for the same sample."""
    return (((seed * 1_000_003 + epoch) * 1_000_033 + slot) * 65_537) % (2**63)


class BatchPlan(Generic[K]):
    """The batch sampler the persistent DataLoader reads: this epoch's lists of keys."""

    def __init__(self) -> None:
        self.batches: list[list[K]] = []

    def __iter__(self) -> Iterator[list[K]]:
        return iter(list(self.batches))

    def __len__(self) -> int:
        return len(self.batches)


class PlannedLoader(Generic[K]):
    """An epoch's order, its batch sizes, and the persistent DataLoader that reads its keys.

    `drop_last_single`: a trailing batch of one sample is left out of the epoch (training with
    BatchNorm cannot take it); validation keeps it.
    """

    def __init__(
        self,
        samples: int,
        *,
        batch_size: int,
        seed: int,
        shuffle: bool,
        num_workers: int,
        pin_memory: bool,
        drop_last_single: bool,
    ) -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.drop_last_single = drop_last_single
        self.sampler = EpochSampler(samples, seed, shuffle)
        self._plan: BatchPlan[K] = BatchPlan()
        self._loader: DataLoader[Any] | None = None

    # -- the loader interface the trainer uses ---------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next iteration reproduces."""
        self.sampler.epoch = epoch

    def shard(self, rank: int, world_size: int, *, pad: bool) -> Any:
        """Yield only rank `rank` of `world_size`'s share from now on (see `shard_indices`);
        returns the loader itself."""
        self.sampler.rank, self.sampler.world_size, self.sampler.pad = rank, world_size, pad
        return self

    def batch_sizes(self) -> list[int]:
        """Batch sizes of one epoch on this rank."""
        return epoch_batch_sizes(self.sampler.shard_samples, self.batch_size, self.drop_last_single)

    def __len__(self) -> int:
        return len(self.batch_sizes())

    def release(self) -> None:
        """Stop this loader's workers now (they start again if it is iterated again).

        Dropping the DataLoader is not enough after an epoch left by an exception: the
        traceback keeps its iterator alive until garbage collection, whose shutdown of the
        workers then stalls a later, unrelated moment. So the iterator is shut down here
        (`_shutdown_workers`, what its own `__del__` calls)."""
        loader, self._loader = self._loader, None
        iterator = getattr(loader, "_iterator", None)
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if callable(shutdown):
            shutdown()

    # -- what a loader builds on -----------------------------------------------------------------
    def order(self) -> list[int]:
        """This rank's sample positions for the epoch, from its first batch."""
        self.sampler.start = 0
        return list(self.sampler)

    def cut(self, items: list[Any]) -> list[list[Any]]:
        """`items` (one per sample of the epoch's order) cut into the epoch's batches."""
        batches, offset = [], 0
        for size in self.batch_sizes():
            batches.append(items[offset : offset + size])
            offset += size
        return batches

    def slot_keys(self, key: Callable[[int, int], K]) -> list[list[K]]:
        """The epoch's batches of `key(position, seed)`: `seed` is the sample's `slot_seed`.

        The k-th sample of rank r sits at slot r + k * world_size of the whole epoch's order."""
        s = self.sampler
        order = self.order()
        world, rank = s.world_size, s.rank
        return self.cut(
            [
                key(position, slot_seed(self.seed, s.epoch, rank + k * world))
                for k, position in enumerate(order)
            ]
        )

    def read(
        self,
        dataset: Dataset[Any],
        batches: list[list[K]],
        *,
        collate: Callable[[list[Any]], Any] | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[Any]:
        """The persistent DataLoader over `dataset`, reading `batches` (this epoch's plan).

        The DataLoader is made on the first read and kept (its workers too); `collate` and
        `generator` (where its workers' base seed comes from; None: torch's global generator)
        are used when it is made."""
        self._plan.batches = batches
        if self._loader is None:
            workers = self.num_workers
            self._loader = DataLoader(
                dataset,
                batch_sampler=self._plan,
                num_workers=workers,
                collate_fn=collate,
                pin_memory=self.pin_memory,
                persistent_workers=workers > 0,
                prefetch_factor=PREFETCH if workers > 0 else None,
                generator=generator,
            )
        return iter(self._loader)

    def batch_generator(self, batch: int) -> torch.Generator:
        """The generator of batch `batch`'s main-process augmentation (seed, epoch, batch,
        rank): the same whether the epoch ran from its start or resumed at `batch`."""
        s = self.sampler
        key = ((self.seed * 1_000_003 + s.epoch) * 1_000_033 + batch) * 65_537 + s.rank
        return torch.Generator().manual_seed(key % (2**63))
