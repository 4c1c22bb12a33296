"""Batches straight from in-memory tensors: no per-sample Python work, no DataLoader overhead.

Images are stored once (uint8 or float, native size) on the training device; each batch is
indexed, scaled, normalised, resized and augmented as whole-batch tensor operations. A dataset
small enough (`PREPARE_LIMIT_BYTES`) is also kept *prepared*: scaled and normalised once, as
float32 on the device, so that a batch is one indexing operation, as in a hand-written loop over
pre-normalised tensors. The prepared batches are bitwise the ones the per-batch path makes
(elementwise IEEE operations give the same result on a batch or on the whole tensor; crop
padding is filled with the normalised value of a zero pixel).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from tui_trainer.engine.distributed import shard_indices


def epoch_batch_sizes(samples: int, batch_size: int, drop_single: bool) -> list[int]:
    """The size of each batch of an epoch of `samples`, in order: full batches, then the rest.
    `drop_single` (training): a trailing batch of one sample is dropped (BatchNorm cannot
    train on it), unless it is the only batch."""
    sizes = [batch_size] * (samples // batch_size)
    sizes += [samples % batch_size] if samples % batch_size else []
    if drop_single and len(sizes) > 1 and sizes[-1] == 1:
        sizes.pop()
    return sizes


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
        return self.expand(self.normalise(x))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Scale, resize and normalise a raw (N, C, H, W) batch (channels not yet expanded)."""
        x = x.float()
        if self.scale != 1.0:
            x = x / self.scale
        side = self.resized_side(x)
        if side is not None:
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """A normalised batch with the model's channels (1-channel images repeated, a view)."""
        if x.shape[1] != self.channels:
            x = x.expand(-1, self.channels, -1, -1)
        return x

    def resized_side(self, x: torch.Tensor) -> int | None:
        """The side images shaped like `x` are resized to (None: they are not resized)."""
        if self.size is None or (x.shape[-2], x.shape[-1]) == (self.size, self.size):
            return None
        return self.size

    def resizes(self, x: torch.Tensor) -> bool:
        """Whether images shaped like `x` are resized."""
        return self.resized_side(x) is not None

    def zero_value(self, channels: int, device: torch.device) -> torch.Tensor:
        """(channels,) what a raw 0 pixel becomes after `normalise` (crop padding, prepared)."""
        zero = torch.zeros(1, channels, 1, 1, device=device)
        return self.normalise(zero).reshape(channels)


PREPARE_LIMIT_BYTES = 1 << 30
"""The largest float32 copy kept prepared (CIFAR-10's 50,000 training images take 614 MB)."""


def prepare_images(
    images: torch.Tensor, transform: BatchTransform, *, augment: bool
) -> torch.Tensor | None:
    """`images` scaled and normalised once (float32, same device), or None when not worth it.

    None when the copy would pass `PREPARE_LIMIT_BYTES` (or a quarter of the free memory of
    a CUDA device), or when augmentation would crop before a resize (the per-batch order).
    """
    if augment and transform.resizes(images):
        return None
    side = transform.resized_side(images)
    pixels = images.shape[-2] * images.shape[-1] if side is None else side * side
    nbytes = images.shape[0] * images.shape[1] * pixels * 4
    limit = PREPARE_LIMIT_BYTES
    if images.device.type == "cuda":
        limit = min(limit, torch.cuda.mem_get_info(images.device)[0] // 4)
    if nbytes > limit:
        return None
    chunk = max(1, (64 << 20) // max(1, nbytes // max(1, images.shape[0])))
    parts = [transform.normalise(images[i : i + chunk]) for i in range(0, images.shape[0], chunk)]
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def augment_batch(
    x: torch.Tensor,
    generator: torch.Generator,
    hflip: bool,
    crop_padding: int,
    fill: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random horizontal flips and padded random crops, each drawn per sample, vectorised.

    Crops pad with 0, or with `fill` (one value per channel, what a 0 pixel became).
    """
    n = x.shape[0]
    if hflip:
        flip = torch.rand(n, generator=generator) < 0.5
        if flip.any():
            x = x.clone()
            x[flip.to(x.device)] = x[flip.to(x.device)].flip(-1)
    if crop_padding > 0:
        p = crop_padding
        h, w = x.shape[-2], x.shape[-1]
        if fill is None:
            padded = F.pad(x, (p, p, p, p))
        else:
            padded = fill.view(1, -1, 1, 1).to(x.dtype).repeat(n, 1, h + 2 * p, w + 2 * p)
            padded[:, :, p : p + h, p : p + w] = x
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
    prepares: ClassVar[bool] = True  # whether `_batch` can use `prepared` images

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
        prepared: torch.Tensor | None = None,
    ) -> None:
        self.images = images  # raw, as stored
        self.prepared = prepared  # `transform.normalise(images)`, when kept (`prepare_images`)
        self._fill = (
            transform.zero_value(images.shape[1], images.device)
            if prepared is not None and crop_padding > 0
            else None
        )
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
        return epoch_batch_sizes(self.shard_samples, self.batch_size, self.drop_last_single)

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
        if self.prepared is not None:  # normalised already: index, augment, expand (a view)
            x = self.prepared[idx]
            if gen is not None:
                x = augment_batch(x, gen, self.hflip, self.crop_padding, self._fill)
            return self.transform.expand(x), self.targets[idx]
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
