"""The user's own Dataset (`data.name: package.module:Class`) as a run's data.

`cls(**data.kwargs)` is the training set; `cls(**data.val_kwargs)` the validation set when
given, else `data.val_split` of the training set is held out (seeded). Before anything is
written, the first `CHECKED` items of each set are converted as the loaders will convert them
(`user_items`): a wrong type, shape or dtype is one line naming the class, the item and what
was expected. Classification items are (image, int label), segmentation items (image, (H,W)
integer mask), detection items (image, {"boxes": xyxy pixels, "labels": 0-based ids}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from tui_trainer.config.pycode import import_class
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.data.folder_setup import pin_memory, resolve_workers, share_cores
from tui_trainer.engine.data.inputs import InputSpec, image_to_uint8
from tui_trainer.engine.data.names import dataset_namer
from tui_trainer.engine.data.split import (
    SEEDED,
    fixed_source,
    fraction_source,
    split_indices,
    split_line,
)
from tui_trainer.engine.data.tensor_loader import BatchTransform
from tui_trainer.engine.data.user_items import ItemError, ItemShape, first_image
from tui_trainer.engine.data.user_loader import ConvertedItems, UserBatches, seeded
from tui_trainer.errors import UserError

DATASET_BASE = "torch.utils.data.dataset.Dataset"
CHECKED = 2  # items of each set checked before the run starts
KEY = "data.name"


def load_class(name: str) -> type:
    """The Dataset subclass `name` names (imported and checked, never called)."""
    cls = import_class(name, KEY, base=DATASET_BASE, what="torch.utils.data.Dataset")
    if issubclass(cls, torch.utils.data.IterableDataset):
        raise UserError(
            f"'{name}' is an IterableDataset; expected a map-style torch.utils.data.Dataset "
            "(with __len__ and __getitem__)",
            key=KEY,
        )
    return cls


def construct(name: str, cls: type, kwargs: dict[str, Any], key: str) -> Any:
    """`cls(**kwargs)` with a length; a failure is a one-line UserError naming `key`."""
    try:
        dataset = cls(**kwargs)
        n = len(dataset)
    except (KeyboardInterrupt, SystemExit, UserError):
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split()) or "no message"
        raise UserError(
            f"building {name}(**{key}) failed: {type(exc).__name__}: {detail}", key=key
        ) from None
    if n < 1:
        raise UserError(f"{name}(**{key}) has no items", key=key)
    return dataset


def class_info(dataset: Any, config: RunConfig) -> tuple[int, list[str]]:
    """(num_classes, class names) from the dataset's `classes` or `num_classes`, else
    data.num_classes, else model.num_classes; none of them is a UserError."""
    names = getattr(dataset, "classes", None)
    count = getattr(dataset, "num_classes", None)
    own: int | None = None
    if isinstance(names, (list, tuple)) and names:
        own, where = len(names), "classes"
    elif isinstance(count, int) and not isinstance(count, bool) and count >= 1:
        own, where = count, "num_classes"
    wanted = config.data.num_classes
    if own is not None and wanted is not None and wanted != own:
        raise UserError(
            f"{wanted}, but {config.data.name} has {own} classes (its `{where}`)",
            key="data.num_classes",
        )
    if own is not None and where == "classes" and isinstance(names, (list, tuple)):
        return own, [str(n) for n in names]
    count = own or wanted or getattr(config.model, "num_classes", None)
    if not count:
        raise UserError(
            f"{config.data.name} has neither a `classes` list nor a `num_classes`; set "
            "data.num_classes",
            key=KEY,
        )
    return int(count), [f"class_{k}" for k in range(count)]


def item_error(label: str, index: int, exc: Exception) -> UserError:
    """The one line for item `index` that broke the contract (ItemError) or failed to load."""
    if isinstance(exc, ItemError):
        return UserError(f"{label} item {index}: expected {exc}", key=KEY)
    detail = " ".join(str(exc).split()) or "no message"
    return UserError(f"{label} item {index}: {type(exc).__name__}: {detail}", key=KEY)


def check_items(dataset: Any, shape: ItemShape, label: str, indices: list[int]) -> None:
    """Convert the first CHECKED items; the first bad one is a one-line UserError."""
    for index in indices[:CHECKED]:
        try:
            with seeded(index):  # the dataset's own random draws leave the run's stream alone
                item = dataset[index]
            shape.convert(item)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise item_error(label, index, exc) from None


def item_shape(dataset: Any, config: RunConfig, num_classes: int, label: str) -> ItemShape:
    """Channels from the first item's image; size data.image_size, else the image's side."""
    try:
        with seeded(0):
            item = dataset[0]
        image = first_image(item, config.task)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise item_error(label, 0, exc) from None
    size = config.data.image_size or max(int(image.shape[1]), int(image.shape[2]))
    return ItemShape(config.task, int(image.shape[0]), size, num_classes)


def user_input_spec(shape: ItemShape, transform: BatchTransform) -> InputSpec:
    """An image file as validation sees an item: 8-bit pixels / 255, resized, normalised."""
    mode = "L" if shape.channels == 1 else "RGB"

    def prepare(img: Any) -> torch.Tensor:
        x = image_to_uint8(img, mode).float() / 255.0
        x, _ = shape.resize(x, None)
        return transform(x[None])[0]

    return InputSpec(
        size=shape.size,
        channels=transform.channels,
        mean=tuple(transform.mean),
        std=tuple(transform.std),
        mode=mode,
        resize="bilinear (torch.nn.functional.interpolate, align_corners=False, no antialias)",
        prepare=prepare,
    )


@dataclass
class UserSets:
    """The training and validation sets of a user Dataset and how they were split."""

    train: Any
    val: Any
    train_idx: list[int]
    val_idx: list[int]
    num_classes: int
    class_names: list[str]
    source: str  # the split line's source part


def user_sets(config: RunConfig) -> UserSets:
    """Import and build the dataset(s); the validation set by data.val_kwargs or val_split."""
    data = config.data
    cls = load_class(data.name)
    train_set = construct(data.name, cls, dict(data.kwargs), "data.kwargs")
    num_classes, class_names = class_info(train_set, config)
    if data.val_kwargs is not None:
        val_set = construct(data.name, cls, dict(data.val_kwargs), "data.val_kwargs")
        return UserSets(
            train_set,
            val_set,
            list(range(len(train_set))),
            list(range(len(val_set))),
            num_classes,
            class_names,
            fixed_source(f"{data.name} with data.kwargs and data.val_kwargs"),
        )
    n = len(train_set)
    train_idx, val_idx = split_indices(n, data.val_split, config.seed, what="samples")
    source = fraction_source(data.val_split, n, SEEDED)
    return UserSets(train_set, train_set, train_idx, val_idx, num_classes, class_names, source)


def user_bundle(config: RunConfig, device: torch.device, model_channels: int | None) -> DataBundle:
    """The data bundle of a user's Dataset class, for the config's task."""
    sets = user_sets(config)
    if config.task == "detection":
        return detection_bundle(config, device, sets)
    return image_bundle(config, device, model_channels, sets)


def detection_bundle(config: RunConfig, device: torch.device, sets: UserSets) -> DataBundle:
    """Detection: the built-in detection loaders over the items (letterboxed, augmented)."""
    from tui_trainer.engine.data.user_detection import DetectionItems
    from tui_trainer.engine.tasks.detection.data import index_bundle
    from tui_trainer.engine.tasks.detection.index import DetectionIndex

    name = config.data.name
    val_label = name if sets.val is sets.train else f"{name} (data.val_kwargs)"
    seed = config.seed
    train = DetectionItems(sets.train, sets.train_idx, sets.num_classes, name, seed)
    val = DetectionItems(sets.val, sets.val_idx, sets.num_classes, val_label, seed)
    for items, label in ((train, name), (val, val_label)):
        for position in range(min(CHECKED, len(items))):
            try:
                items.read(position)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                raise item_error(label, items.indices[position], exc) from None
    # the loaders only index and measure the splits: lazy sequences stand in for the lists
    index = DetectionIndex(train, val, sets.class_names)  # type: ignore[arg-type]
    bundle = index_bundle(index, config, device, generated=False)
    bundle.split = split_line(len(train), len(val), "images", sets.source)
    return bundle


def image_bundle(
    config: RunConfig, device: torch.device, model_channels: int | None, sets: UserSets
) -> DataBundle:
    """Classification and segmentation: items converted in loader workers, batched."""
    data = config.data
    train_set, val_set = sets.train, sets.val
    train_idx, val_idx = sets.train_idx, sets.val_idx
    num_classes, class_names = sets.num_classes, sets.class_names
    shape = item_shape(train_set, config, num_classes, data.name)
    check_items(train_set, shape, data.name, train_idx)
    val_label = data.name if val_set is train_set else f"{data.name} (data.val_kwargs)"
    check_items(val_set, shape, val_label, val_idx)
    channels = shape.channels
    mean, std = (0.0,) * channels, (1.0,) * channels
    if data.normalize is not None:
        mean, std = tuple(data.normalize.mean), tuple(data.normalize.std)
        if len(mean) not in (1, channels) or len(std) not in (1, channels):
            raise UserError(
                f"data.normalize: expected 1 or {channels} values (the images' channels) for "
                f"{data.name}, got {len(mean)} means and {len(std)} stds"
            )
    out_channels = model_channels or channels
    transform = BatchTransform(mean, std, 1.0, None, out_channels)
    workers = resolve_workers(data.num_workers)
    share_cores(workers)
    pin = pin_memory(config, device)
    built: list[UserBatches] = []
    made: dict[int, UserBatches] = {}

    def loader(items: ConvertedItems, idx: list[int], batch: int, train: bool) -> UserBatches:
        made_one = UserBatches(
            items,
            idx,
            batch,
            shuffle=train,
            seed=config.seed,
            transform=transform,
            hflip=train and data.augment.hflip,
            crop_padding=data.augment.crop_padding if train else 0,
            device=device,
            num_workers=workers,
            pin_memory=pin,
        )
        built.append(made_one)
        return made_one

    train_items = ConvertedItems(train_set, shape, data.name)
    val_items = ConvertedItems(val_set, shape, data.name)

    def make_train(batch_size: int) -> UserBatches:
        if batch_size not in made:
            for other in made.values():  # a new phase or oom=reduce: one set of workers
                other.release()
            made[batch_size] = loader(train_items, train_idx, batch_size, True)
        return made[batch_size]

    def close() -> None:
        for one in built:
            one.release()

    val = loader(val_items, val_idx, data.val_batch_size or 2 * data.batch_size, False)
    return DataBundle(
        num_classes=num_classes,
        class_names=class_names,
        in_channels=out_channels,
        image_size=shape.size,
        train_samples=len(train_idx),
        val_samples=len(val_idx),
        make_train=make_train,
        val=val,
        close=close,
        input_spec=user_input_spec(shape, transform),
        split=split_line(len(train_idx), len(val_idx), "samples", sets.source),
        val_name=dataset_namer(val_set, val_idx),
    )
