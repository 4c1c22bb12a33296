"""The detection data sources by `data.name` (the engine side of `config.datasets`): generated
shapes, and the YOLO, COCO and Pascal VOC layouts, each read into a `DetectionIndex` and served
by `DetectionLoader`s (letterboxed, augmented with their boxes).

Each builder imports its reader on first use, so a run loads only its own source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.data.folder_setup import pin_memory, resolve_workers, share_cores
from tui_trainer.engine.data.names import namer
from tui_trainer.engine.data.split import split_line
from tui_trainer.engine.data.split_plan import layout_source, tensor_split_source
from tui_trainer.engine.tasks.base import DataBuilder
from tui_trainer.engine.tasks.detection.formats import read_layout
from tui_trainer.errors import UserError

if TYPE_CHECKING:
    from tui_trainer.engine.tasks.detection.index import DetectionIndex
    from tui_trainer.engine.tasks.detection.transforms import DetectAugment


def augment_of(config: RunConfig) -> DetectAugment:
    """The training augmentation the config asks for (`transforms.DetectAugment`)."""
    from tui_trainer.engine.tasks.detection.transforms import DetectAugment

    aug = config.data.augment
    return DetectAugment(
        hflip=aug.hflip,
        scale=aug.scale,
        color=aug.color,
        mosaic=aug.mosaic,
        mosaic_until=aug.mosaic_until,
    )


def index_bundle(
    index: DetectionIndex, config: RunConfig, device: torch.device, *, generated: bool
) -> DataBundle:
    """Loaders over `index`'s splits: a training loader per batch size, the validation one."""
    from tui_trainer.engine.tasks.detection.loader import DetectionLoader

    data = config.data
    if not index.train or not index.val:
        empty = "train" if not index.train else "val"
        raise UserError(f"{index.source}: the {empty} split has no images", key="data.root")
    size = data.image_size or 640
    # generated images are in memory: augmenting them in the main process is cheaper than
    # workers on a small machine, so `auto` means none (a number asks for workers anyway)
    auto_none = generated and data.num_workers == "auto"
    workers = 0 if auto_none else resolve_workers(data.num_workers)
    share_cores(workers)
    pin = pin_memory(config, device)
    epochs = [config.epochs]  # the run's length: mosaic_until reads it (steering may change it)
    augment = augment_of(config)

    made: dict[int, DetectionLoader] = {}  # one per batch size: its workers persist

    def make_train(batch_size: int) -> DetectionLoader:
        if batch_size not in made:
            made[batch_size] = DetectionLoader(
                index.train,
                image_size=size,
                batch_size=batch_size,
                shuffle=True,
                seed=config.seed,
                augment=augment,
                num_workers=workers,
                pin_memory=pin,
                epochs=lambda: epochs[0],
            )
        return made[batch_size]

    def set_epochs(n: int) -> None:
        epochs[0] = n

    val = DetectionLoader(
        index.val,
        image_size=size,
        batch_size=data.val_batch_size or 2 * data.batch_size,
        shuffle=False,
        seed=config.seed,
        augment=None,
        num_workers=workers,
        pin_memory=pin,
        drop_last_single=False,
    )

    def close() -> None:  # the run ended: stop every loader's workers
        for loader in [val, *made.values()]:
            loader.release()

    train_n, val_n = len(index.train), len(index.val)
    return DataBundle(
        num_classes=len(index.class_names),
        class_names=list(index.class_names),
        in_channels=3,
        image_size=size,
        train_samples=train_n,
        val_samples=val_n,
        make_train=make_train,
        val=val,
        notes=list(index.notes),
        set_epochs=set_epochs,
        close=close,
        split=split_line(train_n, val_n, "images", split_source(config, generated)),
        # lazy sequences (a user's detection Dataset) are not read to name their images
        val_name=(
            namer([a.path for a in index.val], Path(data.root or "."))
            if isinstance(index.val, list)
            else None
        ),
    )


def split_source(config: RunConfig, generated: bool) -> str:
    """Where the split came from, for `split_line` (the run's and `check`'s words)."""
    if generated:  # worded as `check` plans it (split_plan.plan_split)
        return tensor_split_source(config, config.data.num_samples)[0]
    return layout_source(config.data.name)


def detshapes(config: RunConfig, device: torch.device, channels: int | None) -> DataBundle:
    """Generated shapes with exact boxes, held in memory (`channels` is not used)."""
    from tui_trainer.engine.tasks.detection.shapes import generate_shapes

    data = config.data
    size = data.image_size or 96
    classes = data.num_classes or 3
    index = generate_shapes(
        data.num_samples,
        size,
        config.seed,
        classes,
        data.max_shapes,
        data.val_split,
    )
    if data.class_names is not None:
        if len(data.class_names) != classes:
            raise UserError(
                f"expected {classes} names (one per shape kind), got {len(data.class_names)}",
                key="data.class_names",
            )
        index.class_names = list(data.class_names)
    return index_bundle(index, config, device, generated=True)


def read_index(config: RunConfig, root: Path) -> DetectionIndex:
    """The index of the file layout `config.data.name` (yolo, coco, voc) under `root`."""
    return read_layout(config.data.name, root, config.data.class_names)


def _reader(fmt: str) -> Callable[[RunConfig, torch.device, int | None], DataBundle]:
    """The builder of one file layout (yolo, coco, voc): read the index, then the loaders."""

    def build(config: RunConfig, device: torch.device, channels: int | None) -> DataBundle:
        if not config.data.root:
            raise UserError(f"{fmt} data needs data.root (the dataset's folder)", key="data.root")
        root = Path(config.data.root).expanduser()
        if not root.exists():
            raise UserError(f"{root}: no such file or folder", key="data.root")
        return index_bundle(read_index(config, root), config, device, generated=False)

    build.__doc__ = f"The {fmt} layout under data.root, decoded by loader workers."
    return build


DATASETS: dict[str, DataBuilder] = {
    "detshapes": detshapes,
    "yolo": _reader("yolo"),
    "coco": _reader("coco"),
    "voc": _reader("voc"),
}
