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
from torch.utils.data import Dataset

from tui_trainer.engine.data.planned import PlannedLoader
from tui_trainer.engine.data.tensor_loader import BatchTransform, augment_batch
from tui_trainer.engine.data.user_items import ItemError, ItemShape
from tui_trainer.errors import TrainingError


class UserItemError(TrainingError):
    """An item past the checked ones broke the task's contract (the message names it)."""


Key = tuple[int, int]  # (dataset index, the seed of its __getitem__ call)


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


class UserBatches(PlannedLoader[Key]):
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
        super().__init__(
            len(indices),
            batch_size=batch_size,
            seed=seed,
            shuffle=shuffle,
            num_workers=num_workers,
            pin_memory=pin_memory,
            drop_last_single=shuffle,
        )
        self.items = items
        self.indices = indices
        self.transform = transform
        self.hflip, self.crop_padding = hflip, crop_padding
        self.device = device

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iterate(0)

    def iterate(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (inputs, targets) batches from batch index `start` on."""
        batches = self.keys()[start:]
        if not batches:
            return
        for i, (x, y, errors) in enumerate(self.read(self.items, batches), start=start):
            bad = next((e for e in errors if e), "")
            if bad:
                raise UserItemError(bad)
            yield self._finish(x, y, i)

    def keys(self) -> list[list[Key]]:
        """This epoch's batches as (dataset index, item seed) keys, all of them from batch 0."""
        return self.slot_keys(lambda position, seed: (self.indices[position], seed))

    def _finish(
        self, x: torch.Tensor, y: torch.Tensor, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        if (self.hflip or self.crop_padding) and x.shape[0]:
            gen = self.batch_generator(batch)
            if y.ndim == 3:  # segmentation: the mask moves with its image
                both = torch.cat([x, y[:, None].to(x.dtype)], dim=1)
                both = augment_batch(both, gen, self.hflip, self.crop_padding)
                x, y = both[:, :-1], both[:, -1].round().to(torch.int64)
            else:
                x = augment_batch(x, gen, self.hflip, self.crop_padding)
        return self.transform(x), y
