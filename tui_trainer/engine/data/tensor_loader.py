"""Batches straight from in-memory tensors: no per-sample Python work, no DataLoader overhead.

Images are stored once (uint8 or float, native size) on the training device; each batch is
indexed, scaled, normalised, resized and augmented as whole-batch tensor operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from tui_trainer.engine.distributed import shard_indices


@dataclass(frozen=True)
class BatchTransform:
    """Whole-batch preprocessing: scale to [0, 1], normalise, resize, expand channels."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float  # divide raw values by this to reach [0, 1]
    size: int | None  # square output size, None = keep
    channels: int  # output channels (1-channel images are repeated to 3 when asked)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Turn a raw (N, C, H, W) batch into model input."""
        x = x.float()
        if self.scale != 1.0:
            x = x / self.scale
        if self.size is not None and (x.shape[-2], x.shape[-1]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        x = (x - mean) / std
        if x.shape[1] != self.channels:
            x = x.expand(-1, self.channels, -1, -1)
        return x


def augment_batch(
    x: torch.Tensor, generator: torch.Generator, hflip: bool, crop_padding: int
) -> torch.Tensor:
    """Random horizontal flips and padded random crops, each drawn per sample, vectorised."""
    n = x.shape[0]
    if hflip:
        flip = torch.rand(n, generator=generator) < 0.5
        if flip.any():
            x = x.clone()
            x[flip.to(x.device)] = x[flip.to(x.device)].flip(-1)
    if crop_padding > 0:
        p = crop_padding
        h, w = x.shape[-2], x.shape[-1]
        padded = F.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chan, rows, cols]
    return x


class TensorLoader:
    """An epoch's batches from tensors held on the device.

    The order of epoch `e` is a permutation drawn from `seed + e`, so any position inside any
    epoch can be reproduced (this is what makes mid-epoch resume exact). In a multi-process run
    `shard` makes it yield only this rank's share of that permutation (see `shard_indices`).
    Subclasses change what one batch is by overriding `_batch`; `shardable = False` makes a
    subclass refuse multi-process sharding.
    """

    shardable: ClassVar[bool] = True

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        transform: BatchTransform,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        hflip: bool = False,
        crop_padding: int = 0,
        drop_last_single: bool = True,
    ) -> None:
        self.images = images
        self.targets = targets
        self.transform = transform
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.hflip = hflip
        self.crop_padding = crop_padding
        self.drop_last_single = drop_last_single
        self.epoch = 0
        self.rank, self.world_size, self.pad = 0, 1, True

    def shard(self, rank: int, world_size: int, *, pad: bool) -> TensorLoader:
        """Yield only rank `rank` of `world_size`'s share from now on (see `shard_indices`)."""
        if world_size > 1 and not self.shardable:
            raise NotImplementedError(f"{type(self).__name__} cannot be sharded across processes")
        self.rank, self.world_size, self.pad = rank, world_size, pad
        return self

    @property
    def num_samples(self) -> int:
        """Samples in one epoch."""
        return int(self.targets.shape[0])

    @property
    def shard_samples(self) -> int:
        """Samples this rank sees in one epoch (all of them in a single-process run)."""
        n, w = self.num_samples, self.world_size
        if w == 1:
            return n
        return -(-n // w) if self.pad else len(range(self.rank, n, w))

    def epoch_order(self, gen: torch.Generator) -> torch.Tensor:
        """This rank's sample indices for the epoch, drawn from `gen` (seeded by the epoch)."""
        n = self.num_samples
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        order = shard_indices(order, self.rank, self.world_size, self.pad)
        if self.world_size > 1:  # each rank its own augmentation stream
            gen.manual_seed(self.seed * 1_000_003 + self.epoch + 7_919 * (self.rank + 1))
        return order.to(self.images.device)

    def batch_sizes(self) -> list[int]:
        """The size of each batch of an epoch, in order (a trailing batch of 1 is dropped)."""
        n, b = self.shard_samples, self.batch_size
        sizes = [b] * (n // b) + ([n % b] if n % b else [])
        if self.drop_last_single and len(sizes) > 1 and sizes[-1] == 1:
            sizes.pop()
        return sizes

    def __len__(self) -> int:
        return len(self.batch_sizes())

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next iteration reproduces."""
        self.epoch = epoch

    def iterate(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (inputs, targets) batches from batch index `start` on."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = self.epoch_order(gen)
        aug = self.hflip or self.crop_padding > 0
        offset = 0
        for i, size in enumerate(self.batch_sizes()):
            idx = order[offset : offset + size]
            offset += size
            if i < start:
                if aug:  # keep the augmentation stream identical to an uninterrupted epoch
                    self._skip_aug_draws(gen, size)
                continue
            yield self._batch(idx, gen if aug else None)

    def _batch(
        self, idx: torch.Tensor, gen: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One model-ready batch of the samples `idx`, augmented with `gen` when given."""
        x = self.images[idx]
        if gen is not None:
            x = augment_batch(x, gen, self.hflip, self.crop_padding)
        return self.transform(x), self.targets[idx]

    def _skip_aug_draws(self, gen: torch.Generator, size: int) -> None:
        """Advance `gen` exactly as `augment_batch` does for a batch of `size` samples."""
        if self.hflip:
            torch.rand(size, generator=gen)
        if self.crop_padding > 0:
            span = 2 * self.crop_padding + 1
            torch.randint(0, span, (size,), generator=gen)
            torch.randint(0, span, (size,), generator=gen)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iterate(0)
