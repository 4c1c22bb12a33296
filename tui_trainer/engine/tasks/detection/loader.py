"""Batches of detection samples: letterboxed images and a list of per-image target dicts.

The epoch's order is a seeded permutation (`EpochSampler`, sharded like the other loaders).
Every random draw of the sample at slot `s` of epoch `e` (its slot in the whole epoch's order,
so a rank of a multi-process run draws what one process would) comes from a generator seeded by
(seed, e, s): batch `i` is the same whether the epoch ran from the start or resumed at `i`, and
whatever the worker count. Decoding and augmentation run in persistent DataLoader workers when
`num_workers > 0`; generated samples (`Annotated.pixels`) need no decoding.

A batch is (images, targets): images float32 (N, 3, S, S) in [0, 1]; each target a dict with
`boxes` float32 (k, 4) xyxy in network pixels, `labels` int64 (k,) 0-based, `image_id` int64,
`letterbox` float32 (scale, pad_x, pad_y, 0) mapping the original image to the network input
(`net = orig * scale + pad`; without augmentation that is exactly where the image went) and
`orig_size` int64 (h, w).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Dataset

from tui_trainer.engine.data.planned import PlannedLoader
from tui_trainer.engine.tasks.detection.index import Annotated, load_rgb
from tui_trainer.engine.tasks.detection.transforms import (
    Augmenter,
    DetectAugment,
    fit,
    letterbox,
    mosaic,
    to_chw,
)

Target = dict[str, torch.Tensor]
Batch = tuple[torch.Tensor, list[Target]]
Key = tuple[int, int, bool]  # (sample index, the sample's seed, mosaic allowed)


class DetectionSamples(Dataset[tuple[torch.Tensor, Target]]):
    """One sample per `Key`: decoded, mosaicked or not, letterboxed and augmented (uint8)."""

    def __init__(
        self, samples: list[Annotated], image_size: int, augment: DetectAugment | None
    ) -> None:
        self.samples = samples
        self.size = image_size
        self.augment = augment
        self.augmenter = Augmenter(augment) if augment is not None and augment.active else None

    def __len__(self) -> int:
        return len(self.samples)

    def image(self, index: int) -> torch.Tensor:
        """Sample `index`'s pixels as uint8 (3, H, W)."""
        a = self.samples[index]
        return to_chw(load_rgb(a))

    def _raw(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = self.samples[index]
        boxes = torch.as_tensor(a.boxes, dtype=torch.float32).reshape(-1, 4)
        return self.image(index), boxes, torch.as_tensor(a.labels, dtype=torch.int64).reshape(-1)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, Target]:
        index, seed, mosaic_allowed = key
        a = self.samples[index]
        image, orig_boxes, labels = self._raw(index)
        aug, augmenter = self.augment, self.augmenter
        gen = torch.Generator().manual_seed(seed)
        if aug is not None and mosaic_allowed and float(torch.rand((), generator=gen)) < aug.mosaic:
            others = torch.randint(0, len(self.samples), (3,), generator=gen).tolist()
            tiles = [(image, orig_boxes, labels)] + [self._raw(i) for i in others]
            square, boxes, labels = mosaic(tiles, self.size, gen)
            box = fit(int(image.shape[-1]), int(image.shape[-2]), self.size)
        else:
            square, boxes, box = letterbox(image, orig_boxes, self.size)
        if augmenter is not None:
            square, boxes, labels = augmenter(square, boxes, labels, gen)
        target = {
            "boxes": boxes.reshape(-1, 4),
            "labels": labels.reshape(-1),
            "image_id": torch.tensor(a.image_id, dtype=torch.int64),
            "letterbox": box.as_tensor(),
            "orig_size": torch.tensor([a.height, a.width], dtype=torch.int64),
        }
        return square, target


def collate(items: list[tuple[torch.Tensor, Target]]) -> Batch:
    """Stack images to float32 in [0, 1]; targets stay a list (box counts differ)."""
    images = torch.stack([image for image, _ in items]).to(torch.float32).div_(255)
    return images, [target for _, target in items]


class DetectionLoader(PlannedLoader[Key]):
    """Detection batches of `samples` (meets `engine.data.bundle.Loader`, plus `shard`)."""

    def __init__(
        self,
        samples: list[Annotated],
        *,
        image_size: int,
        batch_size: int,
        shuffle: bool,
        seed: int,
        augment: DetectAugment | None,
        num_workers: int,
        pin_memory: bool,
        epochs: Callable[[], int] = lambda: 1,
        drop_last_single: bool = True,
    ) -> None:
        super().__init__(
            len(samples),
            batch_size=batch_size,
            seed=seed,
            shuffle=shuffle,
            num_workers=num_workers,
            pin_memory=pin_memory and torch.cuda.is_available(),
            drop_last_single=drop_last_single,
        )
        self.dataset = DetectionSamples(samples, image_size, augment)
        self.augment = augment
        self.epochs = epochs

    def __iter__(self) -> Iterator[Batch]:
        return self.iterate(0)

    def keys(self) -> list[list[Key]]:
        """This epoch's batches as the keys `DetectionSamples` reads (all of them, from 0)."""
        aug = self.augment
        allowed = aug is not None and aug.mosaic_on(self.sampler.epoch, self.epochs())
        return self.slot_keys(lambda index, seed: (index, seed, allowed))

    def iterate(self, start: int = 0) -> Iterator[Batch]:
        """Yield (images, targets) batches from batch index `start` on."""
        batches = self.keys()[start:]
        if not batches:
            return
        # the workers' base seed is drawn from this generator, not torch's global RNG
        generator = torch.Generator().manual_seed(self.seed)
        yield from self.read(self.dataset, batches, collate=collate, generator=generator)
