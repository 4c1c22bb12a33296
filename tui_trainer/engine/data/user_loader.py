"""Batches from a user's own Dataset (`data.name: module:Class`), as image folders make them.

The epoch's order is a seeded permutation (`EpochSampler`: sharded under DDP, resumable at a
batch). DataLoader workers (`data.num_workers`, persistent, pinned memory on CUDA) only call
the dataset and convert its items (`ItemShape.convert`). Each call runs with torch's, numpy's
and Python's global generators seeded by (seed, epoch, the item's slot in the whole epoch's
order), and restored after: random transforms inside the dataset's `__getitem__` (torchvision's
draw from torch's generator) draw the same numbers whichever process or worker reads the item.
Flips and padded crops are drawn on the main process from a generator seeded by (seed, epoch,
batch, rank). So batch `i` is the same whatever the worker count, and whether the epoch ran
from the start or resumed at `i`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from tui_trainer.engine.data.folder_loader import PREFETCH
from tui_trainer.engine.data.sampler import EpochSampler
from tui_trainer.engine.data.tensor_loader import BatchTransform, augment_batch, epoch_batch_sizes
from tui_trainer.engine.data.user_items import ItemError, ItemShape
from tui_trainer.errors import TrainingError


class UserItemError(TrainingError):
    """An item past the checked ones broke the task's contract (the message names it)."""


Key = tuple[int, int]  # (dataset index, the seed of its __getitem__ call)


def item_seed(seed: int, epoch: int, slot: int) -> int:
    """The seed of the item at `slot` of `epoch`'s whole order (as detection samples draw)."""
    return (((seed * 1_000_003 + epoch) * 1_000_033 + slot) * 65_537) % (2**63)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run with torch's (CPU), numpy's and Python's global generators seeded, then restore
    them (the main process's own random stream is left as it was)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class ConvertedItems(Dataset):
    """`dataset[i]` converted by `shape`: (image, target, error); a failing item gives blank
    tensors and its error, which the main process raises (one line, not a worker traceback)."""

    def __init__(self, dataset: Any, shape: ItemShape, label: str) -> None:
        self.dataset, self.shape, self.label = dataset, shape, label

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, torch.Tensor, str]:
        index, seed = key
        try:
            with seeded(seed):
                item = self.dataset[index]
            image, target = self.shape.convert(item)
            return image, target, ""
        except ItemError as exc:
            error = f"{self.label} item {index}: expected {exc}"
        except Exception as exc:  # the dataset's own code failed
            detail = " ".join(str(exc).split()) or "no message"
            error = f"{self.label} item {index}: {type(exc).__name__}: {detail}"
        s = self.shape
        blank = torch.zeros(s.channels, s.size, s.size)
        target = torch.zeros((s.size, s.size) if s.task == "segmentation" else (), dtype=torch.long)
        return blank, target, error


class _Plan:
    """The batch sampler the persistent DataLoader reads: this epoch's lists of keys."""

    def __init__(self) -> None:
        self.batches: list[list[Key]] = []

    def __iter__(self) -> Iterator[list[Key]]:
        return iter(list(self.batches))

    def __len__(self) -> int:
        return len(self.batches)


class UserBatches:
    """An epoch's model-ready (inputs, targets) batches of `indices` into a ConvertedItems."""

    def __init__(
        self,
        items: ConvertedItems,
        indices: list[int],
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        transform: BatchTransform,
        hflip: bool,
        crop_padding: int,
        device: torch.device,
        num_workers: int,
        pin_memory: bool,
    ) -> None:
        self.items = items
        self.indices = torch.tensor(indices, dtype=torch.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.transform = transform
        self.hflip, self.crop_padding = hflip, crop_padding
        self.device = device
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.sampler = EpochSampler(len(indices), seed, shuffle)
        self._plan = _Plan()
        self._loader: DataLoader | None = None

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next iteration reproduces."""
        self.sampler.epoch = epoch

    def shard(self, rank: int, world_size: int, *, pad: bool) -> UserBatches:
        """Yield only rank `rank` of `world_size`'s share from now on."""
        self.sampler.rank, self.sampler.world_size, self.sampler.pad = rank, world_size, pad
        return self

    def batch_sizes(self) -> list[int]:
        """Batch sizes of one epoch (a trailing batch of 1 is dropped when training)."""
        return epoch_batch_sizes(self.sampler.shard_samples, self.batch_size, self.shuffle)

    def __len__(self) -> int:
        return len(self.batch_sizes())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iterate(0)

    def iterate(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (inputs, targets) batches from batch index `start` on."""
        self._plan.batches = self.keys()[start:]
        if not self._plan.batches:
            return
        if self._loader is None:
            workers = self.num_workers
            self._loader = DataLoader(
                self.items,
                batch_sampler=self._plan,
                num_workers=workers,
                pin_memory=self.pin_memory,
                persistent_workers=workers > 0,
                prefetch_factor=PREFETCH if workers > 0 else None,
            )
        for i, (x, y, errors) in enumerate(self._loader, start=start):
            bad = next((e for e in errors if e), "")
            if bad:
                raise UserItemError(bad)
            yield self._finish(x, y, i)

    def keys(self) -> list[list[Key]]:
        """This epoch's batches as (dataset index, item seed) keys, all of them from batch 0."""
        s = self.sampler
        s.start = 0
        order = self.indices[torch.tensor(list(s), dtype=torch.int64)].tolist()
        # The k-th item of rank r sits at slot r + k * world of the whole epoch's order.
        keys = [
            (index, item_seed(self.seed, s.epoch, s.rank + k * s.world_size))
            for k, index in enumerate(order)
        ]
        batches, offset = [], 0
        for size in self.batch_sizes():
            batches.append(keys[offset : offset + size])
            offset += size
        return batches

    def release(self) -> None:
        """Stop this loader's workers now (see FolderBatches.release)."""
        loader, self._loader = self._loader, None
        iterator = getattr(loader, "_iterator", None)
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if callable(shutdown):
            shutdown()

    def _generator(self, batch: int) -> torch.Generator:
        s = self.sampler
        key = ((self.seed * 1_000_003 + s.epoch) * 1_000_033 + batch) * 65_537 + s.rank
        return torch.Generator().manual_seed(key % (2**63))

    def _finish(
        self, x: torch.Tensor, y: torch.Tensor, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        if (self.hflip or self.crop_padding) and x.shape[0]:
            gen = self._generator(batch)
            if y.ndim == 3:  # segmentation: the mask moves with its image
                both = torch.cat([x, y[:, None].to(x.dtype)], dim=1)
                both = augment_batch(both, gen, self.hflip, self.crop_padding)
                x, y = both[:, :-1], both[:, -1].round().to(torch.int64)
            else:
                x = augment_batch(x, gen, self.hflip, self.crop_padding)
        return self.transform(x), y
