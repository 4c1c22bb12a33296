"""Batches from a FolderSource: persistent workers, a RAM cache, augmentation on the device.

The epoch's order is a seeded permutation (`EpochSampler`, sharded under DDP); DataLoader
workers only decode (no randomness in them), so the batches do not depend on the worker count.
Everything random (flips, padded crops, RandomResizedCrop) is drawn on the main process from a
generator seeded by (seed, epoch, batch index, rank): batch `i` is the same whether the epoch
ran from the start or resumed at `i`, and whether its pixels came from a file or a cache.

With `data.cache: ram`, decoded batches are kept; once an epoch's samples are all there, its
batches are sliced from memory with no DataLoader. Workers persist across epochs, prefetch
`planned.PREFETCH` batches each and, on CUDA, hand over pinned memory for non-blocking copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from tui_trainer.engine.data.augment import random_resized_crop
from tui_trainer.engine.data.cache import RamCache
from tui_trainer.engine.data.folder_source import FolderSource
from tui_trainer.engine.data.planned import PlannedLoader
from tui_trainer.engine.data.tensor_loader import BatchTransform, augment_batch
from tui_trainer.errors import TrainingError


class BadImageError(TrainingError):
    """A sample could not be read and `data.on_bad_image` is `fail` (the message names it)."""


@dataclass(frozen=True)
class Augment:
    """Training-time randomness: flips, padded crops, RandomResizedCrop to `resized_crop`."""

    hflip: bool = False
    crop_padding: int = 0
    resized_crop: int | None = None

    @property
    def active(self) -> bool:
        """True when any augmentation is on."""
        return self.hflip or self.crop_padding > 0 or self.resized_crop is not None


class BadImageLog:
    """Skipped samples of a run (shared by its loaders): each is reported once, with a count."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.skipped: dict[str, str] = {}
        self.report: Callable[[str], None] = lambda message: None

    def handle(self, message: str) -> None:
        """Fail the run with `message`, or record and report the skip."""
        if self.policy == "fail":
            raise BadImageError(f"{message} (data.on_bad_image=skip leaves such images out)")
        if message not in self.skipped:
            self.skipped[message] = message
            self.report(f"skipped: {message} ({len(self.skipped)} image(s) skipped so far)")


class FolderBatches(PlannedLoader[int]):
    """An epoch's model-ready (inputs, targets) batches of `indices` into a FolderSource.

    `labels` are the class index of every sample of the source (classification), or None
    (segmentation: the 4th channel is the mask). The DataLoader reads source indices.
    """

    def __init__(
        self,
        source: FolderSource,
        indices: list[int],
        labels: list[int] | None,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        transform: BatchTransform,
        augment: Augment,
        device: torch.device,
        num_workers: int,
        pin_memory: bool,
        ram: RamCache | None,
        bad: BadImageLog,
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
        self.source = source
        self.indices = torch.tensor(indices, dtype=torch.int64)
        self.labels = None if labels is None else torch.tensor(labels, dtype=torch.int64)
        self.transform = transform
        self.augment = augment
        self.device = device
        self.ram = ram
        self.bad = bad

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iterate(0)

    def iterate(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (inputs, targets) batches from batch index `start` on."""
        batches = [torch.tensor(b, dtype=torch.int64) for b in self.cut(self.order())[start:]]
        if not batches:
            return
        wanted = self.indices[torch.cat(batches)]
        if self.ram is not None and self.source.disk is not None:
            self._preload(wanted)
        raw: Iterator[tuple[torch.Tensor, torch.Tensor]]
        if self.ram is not None and self.ram.has_all(wanted):
            raw = (self._from_ram(self.indices[b]) for b in batches)
        else:
            raw = self._from_files([self.indices[b] for b in batches])
        for i, (x, idx) in enumerate(raw, start=start):
            yield self._finish(x, idx, i)

    # -- where pixels come from ------------------------------------------------------------------
    def _from_ram(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.ram is not None
        if self.ram.bad:
            ok = torch.tensor([int(i) not in self.ram.bad for i in idx], dtype=torch.bool)
            for i in idx[~ok].tolist():
                self.bad.handle(self.ram.bad[i])
            idx = idx[ok]
        x = self.ram.data[idx]
        if self.pin_memory:
            x = x.pin_memory()
        return x, idx

    def _preload(self, wanted: torch.Tensor) -> None:
        """Move samples a disk cache already holds into RAM (much cheaper than workers)."""
        assert self.ram is not None
        todo = wanted[~self.ram.filled[wanted] & ~self.ram.tried[wanted]]
        for i in todo.tolist():
            hit = self.source.cached(i)
            if hit is not None:
                self.ram.store(torch.tensor([i]), torch.from_numpy(hit.copy())[None])
        self.ram.tried[todo] = True

    def _from_files(
        self, batches: list[torch.Tensor]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, idx, errors in self.read(self.source, [b.tolist() for b in batches]):
            if any(errors):
                ok = torch.tensor([not e for e in errors], dtype=torch.bool)
                for k, message in enumerate(errors):
                    if message:
                        if self.ram is not None:
                            self.ram.bad[int(idx[k])] = message
                        self.bad.handle(message)
                x, idx = x[ok], idx[ok]
            if self.ram is not None:
                self.ram.store(idx, x)
            yield x, idx

    # -- model-ready batches ---------------------------------------------------------------------
    def _finish(
        self, x: torch.Tensor, idx: torch.Tensor, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True)
        aug = self.augment
        if aug.active and x.shape[0]:
            gen = self.batch_generator(batch)
            if aug.hflip or aug.crop_padding:
                x = augment_batch(x, gen, aug.hflip, aug.crop_padding)
            if aug.resized_crop is not None:
                x = random_resized_crop(x, gen, aug.resized_crop)
        if self.labels is None:  # segmentation: the last channel is the mask
            return self.transform(x[:, :-1]), x[:, -1].round().to(torch.int64)
        y = self.labels[idx]
        return self.transform(x), y.to(self.device, non_blocking=True)
