"""Batches of (image, mask) pairs: masks follow their images through flips, crops and resizes.

`SegTensorLoader` is the `TensorLoader` of segmentation: images and (N, H, W) uint8 class-index
masks live on the device; each batch is indexed, augmented and resized as whole-batch tensor
operations (no per-sample Python). The augmentation draws are exactly `augment_batch`'s, so
`iterate(start)` yields the tail of an uninterrupted epoch (the resume contract).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle, TensorSplit, tensor_bundle
from tui_trainer.engine.data.tensor_loader import TensorLoader, augment_batch
from tui_trainer.errors import UserError


def augment_pair(
    x: torch.Tensor,
    masks: torch.Tensor,
    generator: torch.Generator,
    hflip: bool,
    crop_padding: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one random flip/crop per sample to images (N, C, H, W) and masks (N, H, W) alike.

    The mask rides along as an extra channel, so both see the same draws; padding is 0, which
    is background in a mask.
    """
    both = torch.cat([x, masks.unsqueeze(1).to(x.dtype)], dim=1)
    both = augment_batch(both, generator, hflip, crop_padding)
    return both[:, :-1], both[:, -1].to(masks.dtype)


def resize_masks(masks: torch.Tensor, size: int | None) -> torch.Tensor:
    """(N, H, W) class-index masks at `size` x `size` by nearest neighbour, as int64."""
    if size is not None and (masks.shape[-2], masks.shape[-1]) != (size, size):
        resized = F.interpolate(masks.unsqueeze(1).float(), size=(size, size), mode="nearest-exact")
        return resized.squeeze(1).to(torch.int64)
    return masks.to(torch.int64)


class SegTensorLoader(TensorLoader):
    """An epoch's (images, masks) batches from tensors held on the device.

    `targets` are (N, H, W) uint8 masks of class indices; batches yield model-ready images and
    (B, size, size) int64 masks.
    """

    prepares = False  # masks ride along through the raw-pixel augmentation

    def _batch(
        self, idx: torch.Tensor, gen: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and masks of the samples `idx`, augmented together; masks resized (nearest)."""
        x, masks = self.images[idx], self.targets[idx]
        if gen is not None:
            x, masks = augment_pair(x, masks, gen, self.hflip, self.crop_padding)
        return self.transform(x), resize_masks(masks, self.transform.size)


def default_class_names(num_classes: int) -> list[str]:
    """background, foreground (binary) or background, class_1, ... (multi-class)."""
    if num_classes == 2:
        return ["background", "foreground"]
    return ["background", *(f"class_{i}" for i in range(1, num_classes))]


def checked_class_names(config: RunConfig, num_classes: int, default: list[str]) -> list[str]:
    """`data.class_names` when set (checked against the number of classes), else `default`."""
    names = config.data.class_names
    if names is None:
        return default
    if len(names) != num_classes:
        raise UserError(
            f"data.class_names: {config.data.name} has {num_classes} classes (background "
            f"first), got {len(names)} names"
        )
    return list(names)


def seg_tensor_bundle(split: TensorSplit, config: RunConfig, device: torch.device) -> DataBundle:
    """Wrap in-memory images and masks (`train_y`/`val_y`: (N, H, W) uint8) in SegTensorLoaders."""
    return tensor_bundle(split, config, device, None, loader=SegTensorLoader)
