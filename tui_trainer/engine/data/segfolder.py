"""A user's own segmentation data: a folder of images and a folder of masks matched by name.

The Carvana layout is `root/train/<id>.jpg` with `root/train_masks/<id>_mask.gif`
(`data.images_dir=train data.masks_dir=train_masks data.mask_pattern={stem}_mask.gif`).
Each sample is decoded by a DataLoader worker and resized to `data.image_size` (the image
bilinearly, the mask by nearest neighbour, so no in-between class appears); the mask becomes
class indices: binary masks are thresholded, multi-class ones mapped through
`data.mask_values`. Flips and crops are then drawn per batch on the device, identically for
image and mask, from a per-epoch seed: a resumed epoch continues exactly as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset, Subset

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.data.imagefolder import IMAGENET_MEAN, IMAGENET_STD, FolderLoader
from tui_trainer.engine.data.inputs import InputSpec, image_to_uint8
from tui_trainer.engine.data.seg_loader import (
    augment_pair,
    checked_class_names,
    default_class_names,
    skip_augment_draws,
)
from tui_trainer.engine.data.tensor_loader import BatchTransform
from tui_trainer.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DEFAULT_SIZE = 256


def mask_to_classes(
    values: np.ndarray, mask_values: list[int] | None, threshold: int
) -> np.ndarray:
    """Raw mask pixel values → uint8 class indices (binary: value > threshold is class 1).

    Raises ValueError naming the values that `mask_values` does not list.
    """
    if mask_values is None:
        return (values.astype(np.int64) > threshold).astype(np.uint8)
    out = np.full(values.shape, 255, dtype=np.uint8)
    for index, value in enumerate(mask_values):
        out[values == value] = index
    if (out == 255).any():
        unknown = sorted(set(np.unique(values[out == 255]).tolist()))
        raise ValueError(f"mask values {unknown[:6]} are not in data.mask_values {mask_values}")
    return out


def read_mask(path: Path) -> np.ndarray:
    """A mask file's raw pixel values: palette indices for 'P' images (GIF), gray levels else."""
    with Image.open(path) as img:
        if img.mode in ("RGB", "RGBA", "LA"):
            img = img.convert("L")
        return np.array(img)


def image_at(img: Image.Image, size: int) -> torch.Tensor:
    """A (3, size, size) uint8 tensor: RGB, resized bilinearly by PIL (training and predict)."""
    return image_to_uint8(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), "RGB")


@dataclass(frozen=True)
class MaskRule:
    """How a mask file becomes class indices."""

    mask_values: list[int] | None
    threshold: int


class SegFolderDataset(Dataset):
    """(uint8 image (3, S, S), uint8 mask (S, S)) pairs from matched files."""

    def __init__(self, pairs: list[tuple[Path, Path]], size: int, rule: MaskRule) -> None:
        self.pairs = pairs
        self.size = size
        self.rule = rule

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, mask_path = self.pairs[index]
        size = (self.size, self.size)
        with Image.open(image_path) as img:
            x = image_at(img, self.size)
        try:
            classes = mask_to_classes(
                read_mask(mask_path), self.rule.mask_values, self.rule.threshold
            )
        except ValueError as exc:
            raise ValueError(f"{mask_path}: {exc}") from None
        mask = Image.fromarray(classes).resize(size, Image.Resampling.NEAREST)
        return x, torch.from_numpy(np.asarray(mask).copy())


class SegFolderLoader:
    """A FolderLoader of (image, mask) pairs plus batch-level joint augmentation on the device."""

    def __init__(
        self,
        inner: FolderLoader,
        transform: BatchTransform,
        device: torch.device,
        *,
        seed: int,
        hflip: bool,
        crop_padding: int,
    ) -> None:
        self.inner = inner
        self.transform = transform
        self.device = device
        self.seed = seed
        self.hflip = hflip
        self.crop_padding = crop_padding
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next iteration reproduces."""
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def batch_sizes(self) -> list[int]:
        """The size of each batch of an epoch, in order."""
        return self.inner.batch_sizes()

    def __len__(self) -> int:
        return len(self.inner)

    def iterate(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (inputs, int64 masks) batches from batch index `start` on."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch + 104_729)
        aug = self.hflip or self.crop_padding > 0
        if aug:
            for size in self.batch_sizes()[:start]:
                skip_augment_draws(gen, size, self.hflip, self.crop_padding)
        for x, masks in self.inner.iterate(start):
            x = x.to(self.device, non_blocking=True)
            masks = masks.to(self.device, non_blocking=True)
            if aug:
                x, masks = augment_pair(x, masks, gen, self.hflip, self.crop_padding)
            yield self.transform(x), masks.to(torch.int64)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iterate(0)


def _layout(config: RunConfig) -> str:
    d = config.data
    example = d.mask_pattern.format(stem="<id>", name="<id>.jpg", suffix=".jpg")
    return f"{d.root}/{d.images_dir}/<id>.jpg with {d.root}/{d.masks_dir}/{example}"


def find_pairs(config: RunConfig) -> list[tuple[Path, Path]]:
    """(image, mask) file pairs; UserError for a missing folder, no images or unmatched ones."""
    data = config.data
    hint = (
        "; for Carvana, unzip Kaggle's train.zip and train_masks.zip there"
        if "_mask.gif" in data.mask_pattern
        else ""
    )
    if not data.root:
        raise UserError(f"data.root: segfolder needs a folder ({_layout(config)})")
    root = Path(data.root)
    images_dir, masks_dir = root / data.images_dir, root / data.masks_dir
    checks = [("data.root", root), ("data.images_dir", images_dir), ("data.masks_dir", masks_dir)]
    for key, folder in checks:
        if not folder.is_dir():
            raise UserError(
                f"{key}: folder '{folder}' not found (segfolder expects {_layout(config)}){hint}"
            )
    images = sorted(
        p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not images:
        raise UserError(f"data.images_dir: no images in '{images_dir}' ({_layout(config)})")
    pairs, missing = [], []
    for image in images:
        name = data.mask_pattern.format(stem=image.stem, name=image.name, suffix=image.suffix)
        mask = masks_dir / name
        (pairs.append((image, mask)) if mask.is_file() else missing.append(mask))
    if missing:
        raise UserError(
            f"data.mask_pattern: {len(missing)} of {len(images)} images have no mask, e.g. "
            f"'{missing[0]}' (pattern '{data.mask_pattern}')"
        )
    return pairs


def segfolder_bundle(config: RunConfig, device: torch.device) -> DataBundle:
    """Images + masks folders split by `data.val_split` (seeded), batched by FolderLoaders."""
    data = config.data
    pairs = find_pairs(config)
    rule = MaskRule(data.mask_values, data.mask_threshold)
    try:  # check one mask now: a bad data.mask_values is bad input, not a failed run
        mask_to_classes(read_mask(pairs[0][1]), rule.mask_values, rule.threshold)
    except ValueError as exc:
        raise UserError(f"data.mask_values: {pairs[0][1]}: {exc}") from None
    except OSError as exc:
        raise UserError(f"data.masks_dir: cannot read mask '{pairs[0][1]}' ({exc})") from None
    if len(pairs) < 2:
        raise UserError(f"data.root: segfolder needs 2 or more image/mask pairs, got {len(pairs)}")
    num_classes = len(data.mask_values) if data.mask_values else 2
    class_names = checked_class_names(config, num_classes, default_class_names(num_classes))
    size = data.image_size or DEFAULT_SIZE
    dataset = SegFolderDataset(pairs, size, rule)
    idx_train, idx_val = train_test_split(
        list(range(len(pairs))), test_size=data.val_split, random_state=config.seed
    )
    train_ds, val_ds = Subset(dataset, idx_train), Subset(dataset, idx_val)
    mean = tuple(data.normalize.mean) if data.normalize else IMAGENET_MEAN
    std = tuple(data.normalize.std) if data.normalize else IMAGENET_STD
    if len(mean) not in (1, 3):
        raise UserError(f"data.normalize.mean: expected 1 or 3 values, got {len(mean)}")
    transform = BatchTransform(mean, std, 255.0, None, 3)

    def make_train(batch_size: int) -> SegFolderLoader:
        return SegFolderLoader(
            FolderLoader(train_ds, batch_size, config, shuffle=True),
            transform,
            device,
            seed=config.seed,
            hflip=data.augment.hflip,
            crop_padding=data.augment.crop_padding,
        )

    val = SegFolderLoader(
        FolderLoader(val_ds, data.val_batch_size or 2 * data.batch_size, config, shuffle=False),
        transform,
        device,
        seed=config.seed,
        hflip=False,
        crop_padding=0,
    )
    return DataBundle(
        num_classes=num_classes,
        class_names=class_names,
        in_channels=3,
        image_size=size,
        train_samples=len(train_ds),
        val_samples=len(val_ds),
        make_train=make_train,
        val=val,
        input_spec=InputSpec(
            size=size,
            channels=3,
            mean=mean,
            std=std,
            mode="RGB",
            resize="bilinear (PIL Image.resize, BILINEAR)",
            prepare=lambda img: transform(image_at(img, size)[None])[0],
        ),
    )
