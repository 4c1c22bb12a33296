"""Which split a config will use and its sizes, said without loading any data (no torch).

`tui-trainer check` shows `plan_split(config)`; the data builders say the same line for the run
(`DataBundle.split`), through the same `split.split_line` and sizes from the same functions, so
the two cannot differ. Image and mask folders are walked (the walk the run does; no image is
opened); generated data and the digits have known sizes; CIFAR-10 has its own test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tui_trainer.config.datasets import DATASETS
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.files import class_folders, list_images
from tui_trainer.engine.data.split import (
    HELD_OUT_FIRST,
    SEEDED,
    STRATIFIED,
    fixed_source,
    fraction_source,
    holdout_size,
    split_indices,
    split_line,
    split_sizes,
)


def folder_split(
    classes: Sequence[str], samples: Sequence[tuple[Path, int]], val_split: float, seed: int
) -> tuple[list[int], list[int]]:
    """An image folder's (train, val) indices, stratified by class folder and seeded: the one
    split the run draws and `check` predicts (the same refusals, exact sizes)."""
    labels = [k for _, k in samples]
    return split_indices(
        len(samples), val_split, seed, what="images", labels=labels, class_names=classes
    )


DIGITS_SAMPLES = DATASETS["digits"].samples or 0  # tests check it against the data
CIFAR10_SIZES = (50_000, 10_000)
CIFAR10_SETS = "CIFAR-10's own training and test sets"
FOLDER_SETS = "the train/ and val/ folders under '{root}'"


def has_split_folders(root: Path) -> bool:
    """Whether an image folder root holds `train/` and `val/` (then they are the split)."""
    return (root / "train").is_dir() and (root / "val").is_dir()


def tensor_split_source(config: RunConfig, total: int) -> tuple[str, str]:
    """(source, what) of `split_line` for in-memory data of `total` samples."""
    data = config.data
    if data.name == "cifar10":
        return fixed_source(CIFAR10_SETS), "images"
    if data.name == "digits":
        return fraction_source(data.val_split, total, STRATIFIED), "digits"
    return fraction_source(data.val_split, total, HELD_OUT_FIRST), "images"


def plan_split(config: RunConfig) -> str | None:
    """The `split_line` a run of `config` would say, or None when its data is not here.

    Raises UserError for a split that cannot be made (the run would refuse it too).
    """
    data = config.data
    if data.name not in DATASETS:  # the user's own Dataset: known once its code runs
        return None
    if DATASETS[data.name].generated:  # fake, shapes
        n_val = holdout_size(data.num_samples, data.val_split, "images")
        source, what = tensor_split_source(config, data.num_samples)
        return split_line(data.num_samples - n_val, n_val, what, source)
    if data.name == "digits":
        n_train, n_val = split_sizes(DIGITS_SAMPLES, data.val_split, "digits")
        source, what = tensor_split_source(config, DIGITS_SAMPLES)
        return split_line(n_train, n_val, what, source)
    root = Path(data.root or "data")
    if data.name == "cifar10":
        if not (root / "cifar-10-batches-py").is_dir():
            return None
        return split_line(*CIFAR10_SIZES, "images", fixed_source(CIFAR10_SETS))
    if data.name == "imagefolder":
        if not root.is_dir():
            return None
        if has_split_folders(root):
            n_train = len(class_folders(root / "train")[1])
            n_val = len(class_folders(root / "val")[1])
            return split_line(n_train, n_val, "images", folder_source(root))
        classes, samples, _ = class_folders(root)
        train, val = folder_split(classes, samples, data.val_split, config.seed)
        source = image_fraction_source(data.val_split, len(samples))
        return split_line(len(train), len(val), "images", source)
    if data.name == "segfolder":
        images = root / data.images_dir
        if not images.is_dir():
            return None
        n = len(list_images(images, recursive=False).files)
        n_train, n_val = split_sizes(n, data.val_split, "pairs")
        return split_line(n_train, n_val, "pairs", pair_fraction_source(data.val_split, n))
    if data.name in ("yolo", "coco", "voc"):  # the labels are read (and bad ones refused)
        if not root.exists():
            return None
        from tui_trainer.engine.tasks.detection.formats import read_layout

        index = read_layout(data.name, root, data.class_names)
        return split_line(len(index.train), len(index.val), "images", layout_source(data.name))
    return None


def layout_source(name: str) -> str:
    """The source of a detection layout's split: its own train and val sets."""
    return fixed_source(f"{name}'s own train and val sets")


def folder_source(root: Path) -> str:
    """The source of an image folder split by its own train/ and val/ folders."""
    return fixed_source(FOLDER_SETS.format(root=root))


def image_fraction_source(val_split: float, n: int) -> str:
    """The source of an image folder split by data.val_split (stratified by class folder)."""
    return fraction_source(val_split, n, STRATIFIED)


def pair_fraction_source(val_split: float, n: int) -> str:
    """The source of a mask folder split by data.val_split."""
    return fraction_source(val_split, n, SEEDED)
