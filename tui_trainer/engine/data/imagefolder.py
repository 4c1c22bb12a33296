"""A user's own images: `root/train/<class>/*`, `root/val/<class>/*`, or one folder to split.

Files are found by the shared folder walk (files.py: hidden files and folders skipped, linked
folders not followed), decoded at reduced size in DataLoader workers (decode.py), kept in a RAM
or disk cache after the first epoch (cache.py) and augmented per batch on the device
(folder_loader.py). `data.transform=finetune` is the pretrained-model recipe: training crops
(RandomResizedCrop, scale 0.08-1, ratio 3/4-4/3) are drawn from a stored copy squashed to
round(image_size / 0.875) square (small images upsampled to it), not from the original file as
torchvision does; validation resizes the shorter side to `data.val_resize` (default
round(image_size / 0.875)) and crops the centre, and `predict`/`export` use that same geometry
(the bundle's `input_spec`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from tui_trainer.config.datasets import DATASETS
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.data.decode import Geometry
from tui_trainer.engine.data.files import WalkResult, class_folders
from tui_trainer.engine.data.folder_loader import Augment
from tui_trainer.engine.data.folder_setup import FolderData
from tui_trainer.engine.data.inputs import folder_input_spec
from tui_trainer.engine.data.names import namer
from tui_trainer.engine.data.sampler import EpochSampler
from tui_trainer.engine.data.split import split_line
from tui_trainer.engine.data.split_plan import (
    folder_source,
    folder_split,
    has_split_folders,
    image_fraction_source,
)
from tui_trainer.engine.data.tensor_loader import BatchTransform
from tui_trainer.errors import UserError

__all__ = ["EpochSampler", "folder_bundle"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = DATASETS["imagefolder"].image_size
LAYOUT = "class folders, or train/ and val/ folders that each hold class folders"
CENTER_FRACTION = 0.875  # finetune: validation resize (unless data.val_resize) and stored size


def _scan(folder: Path) -> tuple[list[str], list[tuple[Path, int]], WalkResult]:
    classes, samples, walk = class_folders(folder)
    if not classes:
        raise UserError(f"data.root: no class folders in '{folder}' (expected {LAYOUT})")
    counts = [0] * len(classes)
    for _, k in samples:
        counts[k] += 1
    empty = [c for c, n in zip(classes, counts, strict=True) if n == 0]
    if empty:
        raise UserError(
            f"data.root: class folder '{folder / empty[0]}' has no images "
            f"({len(empty)} empty class folder(s); remove them or add images)"
        )
    return classes, samples, walk


def geometries(config: RunConfig) -> tuple[Geometry, Geometry, int | None]:
    """(train geometry, val geometry, RandomResizedCrop size or None) for data.transform."""
    size = config.data.image_size or DEFAULT_SIZE
    if config.data.transform == "finetune":
        stored = round(size / CENTER_FRACTION)
        val_resize = config.data.val_resize or stored
        if val_resize < size:
            raise UserError(
                f"data.val_resize: must be >= data.image_size ({size}), the centre crop's size, "
                f"got {val_resize}"
            )
        return Geometry(stored), Geometry(size, "center", val_resize), size
    return Geometry(size), Geometry(size), None


def folder_bundle(
    config: RunConfig, device: torch.device, model_channels: int | None = None
) -> DataBundle:
    """Image-folder data; the split is stratified and seeded when there is no val/ folder."""
    data = config.data
    if not data.root:
        raise UserError(f"data.root: imagefolder needs a folder ({LAYOUT})")
    root = Path(data.root)
    if not root.is_dir():
        raise UserError(f"data.root: folder '{root}' not found (imagefolder expects {LAYOUT})")
    notes: list[str] = []
    if has_split_folders(root):  # train/ and val/ are the split (data.val_split unused)
        source = folder_source(root)
        classes, train, walk = _scan(root / "train")
        val_classes, val, val_walk = _scan(root / "val")
        if val_classes != classes:
            raise UserError(
                f"data.root: '{root}/val' classes {val_classes} differ from "
                f"'{root}/train' classes {classes}"
            )
        notes += walk.warnings(f"data.root '{root / 'train'}'")
        notes += val_walk.warnings(f"data.root '{root / 'val'}'")
    else:
        classes, samples, walk = _scan(root)
        notes += walk.warnings(f"data.root '{root}'")
        if len(classes) < 2:
            raise UserError(
                f"data.root: '{root}' has {len(classes)} class folder(s); need at least 2"
            )
        idx_train, idx_val = folder_split(classes, samples, data.val_split, config.seed)
        train = [samples[i] for i in sorted(idx_train)]
        val = [samples[i] for i in sorted(idx_val)]
        source = image_fraction_source(data.val_split, len(samples))
    if len(classes) < 2:
        raise UserError(f"data.root: '{root}' has {len(classes)} class folder(s); need at least 2")
    mean = tuple(data.normalize.mean) if data.normalize else IMAGENET_MEAN
    std = tuple(data.normalize.std) if data.normalize else IMAGENET_STD
    if len(mean) not in (1, 3):
        raise UserError(f"data.normalize.mean: expected 1 or 3 values, got {len(mean)}")
    train_geo, val_geo, crop = geometries(config)
    setup = FolderData(config, device)
    transform = BatchTransform(mean, std, 255.0, None, 3)
    train_src = setup.source([p for p, _ in train], train_geo)
    val_src = setup.source([p for p, _ in val], val_geo)
    train_ram, val_ram = setup.ram_caches(train_src, val_src)
    make_train, val_loader = setup.loaders(
        (train_src, list(range(len(train))), train_ram),
        (val_src, list(range(len(val))), val_ram),
        ([k for _, k in train], [k for _, k in val]),
        transform,
        Augment(data.augment.hflip, data.augment.crop_padding, crop),
    )
    return DataBundle(
        num_classes=len(classes),
        class_names=list(classes),
        in_channels=3,
        image_size=data.image_size or DEFAULT_SIZE,
        train_samples=len(train),
        val_samples=len(val),
        make_train=make_train,
        val=val_loader,
        notes=[*notes, *setup.notes],
        bad_images=setup.bad,
        close=setup.close,
        input_spec=folder_input_spec(transform, val_geo, mean, std),
        split=split_line(len(train), len(val), "images", source),
        val_name=namer([Path(p) for p, _ in val], root),
    )
