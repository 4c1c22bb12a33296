"""A user's own segmentation data: a folder of images and a folder of masks matched by name.

The Carvana layout is `root/train/<id>.jpg` with `root/train_masks/<id>_mask.gif`
(`data.images_dir=train data.masks_dir=train_masks data.mask_pattern={stem}_mask.gif`).
Each pair is decoded by a DataLoader worker into one 4-channel uint8 sample at
`data.image_size` (the image antialiased, the mask by nearest neighbour, so no in-between class
appears; a mask whose size differs from its image's is refused, naming it); the mask becomes
class indices: binary masks are thresholded, multi-class ones mapped through
`data.mask_values`. Samples are cached like image folders' (data.cache), and flips and crops
are drawn per batch on the device, identically for image and mask, from a per-batch seed.
"""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import torch

from tui_trainer.config.datasets import DATASETS
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.data.decode import BadImage, Geometry, decode_mask
from tui_trainer.engine.data.files import list_images
from tui_trainer.engine.data.folder_loader import Augment
from tui_trainer.engine.data.folder_setup import FolderData
from tui_trainer.engine.data.folder_source import MaskRule, mask_to_classes
from tui_trainer.engine.data.imagefolder import IMAGENET_MEAN, IMAGENET_STD
from tui_trainer.engine.data.inputs import folder_input_spec
from tui_trainer.engine.data.names import namer
from tui_trainer.engine.data.split import split_indices, split_line
from tui_trainer.engine.data.split_plan import pair_fraction_source
from tui_trainer.engine.data.tensor_loader import BatchTransform
from tui_trainer.engine.tasks.segmentation.loader import checked_class_names, default_class_names
from tui_trainer.errors import UserError

__all__ = ["find_pairs", "mask_to_classes", "segfolder_bundle"]

DEFAULT_SIZE = DATASETS["segfolder"].image_size


def _layout(config: RunConfig) -> str:
    d = config.data
    example = d.mask_pattern.format(stem="<id>", name="<id>.jpg", suffix=".jpg")
    return f"{d.root}/{d.images_dir}/<id>.jpg with {d.root}/{d.masks_dir}/{example}"


def _mask_exists(mask: Path, image: Path) -> bool:
    """Whether `image`'s mask file is there; a name the OS cannot take is bad input naming it."""
    try:
        return stat.S_ISREG(mask.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno == errno.ENAMETOOLONG:
            why = (
                f"its mask name is {len(mask.name.encode('utf-8'))} bytes, longer than the file "
                "system allows; rename the image or shorten data.mask_pattern"
            )
        raise UserError(
            f"data.mask_pattern: image '{image}': cannot look for its mask "
            f"'{mask.name[:60]}{'...' if len(mask.name) > 60 else ''}': {why}"
        ) from None


def find_pairs(config: RunConfig) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(image, mask) file pairs and walk warnings; UserError for a missing folder or mask."""
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
    walk = list_images(images_dir, recursive=False)
    images = walk.files
    if not images:
        raise UserError(f"data.images_dir: no images in '{images_dir}' ({_layout(config)})")
    pairs, missing = [], []
    for image in images:
        name = data.mask_pattern.format(stem=image.stem, name=image.name, suffix=image.suffix)
        mask = masks_dir / name
        (pairs.append((image, mask)) if _mask_exists(mask, image) else missing.append(mask))
    if missing:
        raise UserError(
            f"data.mask_pattern: {len(missing)} of {len(images)} images have no mask, e.g. "
            f"'{missing[0]}' (pattern '{data.mask_pattern}')"
        )
    return pairs, walk.warnings(f"data.images_dir '{images_dir}'")


def segfolder_bundle(config: RunConfig, device: torch.device) -> DataBundle:
    """Images + masks folders split by `data.val_split` (seeded), batched from a FolderSource."""
    data = config.data
    if data.transform != "resize":
        raise UserError(
            f"data.transform: segfolder supports resize (with data.augment), got '{data.transform}'"
        )
    pairs, notes = find_pairs(config)
    rule = MaskRule(data.mask_values, data.mask_threshold)
    try:  # check one mask now: a bad data.mask_values is bad input, not a failed run
        mask_to_classes(decode_mask(pairs[0][1]), rule.mask_values, rule.threshold)
    except ValueError as exc:
        raise UserError(f"data.mask_values: {pairs[0][1]}: {exc}") from None
    except BadImage as exc:
        raise UserError(f"data.masks_dir: {exc}") from None
    num_classes = len(data.mask_values) if data.mask_values else 2
    class_names = checked_class_names(config, num_classes, default_class_names(num_classes))
    size = data.image_size or DEFAULT_SIZE
    idx_train, idx_val = split_indices(len(pairs), data.val_split, config.seed, what="pairs")
    mean = tuple(data.normalize.mean) if data.normalize else IMAGENET_MEAN
    std = tuple(data.normalize.std) if data.normalize else IMAGENET_STD
    if len(mean) not in (1, 3):
        raise UserError(f"data.normalize.mean: expected 1 or 3 values, got {len(mean)}")
    setup = FolderData(config, device)
    geometry = Geometry(size)
    transform = BatchTransform(mean, std, 255.0, None, 3)
    parts = []
    for idx in (sorted(idx_train), sorted(idx_val)):
        chosen = [pairs[i] for i in idx]
        parts.append(
            setup.source([p for p, _ in chosen], geometry, masks=[m for _, m in chosen], rule=rule)
        )
    train_src, val_src = parts
    val_files = [pairs[i][0] for i in sorted(idx_val)]
    train_ram, val_ram = setup.ram_caches(train_src, val_src)
    make_train, val = setup.loaders(
        (train_src, list(range(len(train_src))), train_ram),
        (val_src, list(range(len(val_src))), val_ram),
        (None, None),
        transform,
        Augment(data.augment.hflip, data.augment.crop_padding),
    )
    return DataBundle(
        num_classes=num_classes,
        class_names=class_names,
        in_channels=3,
        image_size=size,
        train_samples=len(train_src),
        val_samples=len(val_src),
        make_train=make_train,
        val=val,
        notes=[*notes, *setup.notes],
        bad_images=setup.bad,
        close=setup.close,
        input_spec=folder_input_spec(transform, geometry, mean, std),
        split=split_line(
            len(train_src), len(val_src), "pairs", pair_fraction_source(data.val_split, len(pairs))
        ),
        val_name=namer(val_files, Path(data.root or ".") / data.images_dir),
    )
