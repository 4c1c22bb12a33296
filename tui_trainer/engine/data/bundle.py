"""What the trainer gets from any data source (`DataBundle`, the `Loader` protocol) and the
in-memory split every tensor source returns (`TensorSplit`, wrapped by `tensor_bundle`).

No data source is imported here: the sources import these types, and `dispatch.build_data`
picks the source through the task registry (so neither side imports the other in a circle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.inputs import InputSpec, tensor_input_spec
from tui_trainer.engine.data.split import split_line
from tui_trainer.engine.data.split_plan import tensor_split_source
from tui_trainer.engine.data.tensor_loader import BatchTransform, TensorLoader, prepare_images


class Loader(Protocol):
    """What the trainer needs from a loader (TensorLoader and FolderLoader both fit)."""

    def set_epoch(self, epoch: int) -> None: ...
    def iterate(self, start: int = 0) -> Iterator[tuple[torch.Tensor, Any]]:
        """(images, targets) batches from batch `start`: targets are a tensor (class ids,
        masks) or the task's own structure (detection: a list of box dicts)."""
        ...

    def batch_sizes(self) -> list[int]: ...
    def __len__(self) -> int: ...


@dataclass
class DataBundle:
    """Everything the trainer knows about the data."""

    num_classes: int
    class_names: list[str]
    in_channels: int
    image_size: int
    train_samples: int
    val_samples: int
    make_train: Callable[[int], Loader]  # batch size → loader (the frozen phase may differ)
    val: Loader
    notes: list[str] = field(default_factory=list)  # warnings from building (skipped links, ...)
    bad_images: Any = None  # folder data: a BadImageLog; set its `report` to see skips
    close: Callable[[], None] = lambda: None  # stop loader workers at the end of the run
    input_spec: InputSpec | None = None  # how an image file becomes input, as `val` makes it
    split: str = ""  # which split made train/val and their sizes, one line (split.split_line)
    # The run's planned epochs, told at each epoch's start (steering may change them): data
    # whose augmentation depends on them (detection's mosaic_until) listens.
    set_epochs: Callable[[int], None] = lambda epochs: None
    # A validation position -> the image's file (relative to the data's folder), for sources
    # that know it (picture names); None: pictures name images "val #<position>".
    val_name: Callable[[int], str] | None = None


@dataclass
class TensorSplit:
    """Raw in-memory data of one source: (N, C, H, W) images and (N,) int64 targets."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    class_names: list[str]
    scale: float  # raw value that maps to 1.0
    mean: tuple[float, ...]
    std: tuple[float, ...]


def tensor_bundle(
    split: TensorSplit,
    config: RunConfig,
    device: torch.device,
    model_channels: int | None,
    loader: type[TensorLoader] = TensorLoader,
) -> DataBundle:
    """Wrap in-memory tensors in `loader`s (TensorLoader, or a subclass for masks) on `device`."""
    data = config.data
    mean, std = split.mean, split.std
    if data.normalize is not None:
        mean, std = tuple(data.normalize.mean), tuple(data.normalize.std)
    channels = int(split.train_x.shape[1])
    if len(mean) not in (1, channels):
        from tui_trainer.errors import UserError

        raise UserError(
            f"data.normalize.mean: expected 1 or {channels} values for {data.name}, got {len(mean)}"
        )
    out_channels = model_channels or channels
    size = data.image_size or int(split.train_x.shape[-1])
    transform = BatchTransform(mean, std, split.scale, data.image_size, out_channels)
    train_x, train_y = split.train_x.to(device), split.train_y.to(device)
    val_x, val_y = split.val_x.to(device), split.val_y.to(device)
    # Normalised once for every epoch and batch size (None: per batch; see prepare_images).
    augment = data.augment.hflip or data.augment.crop_padding > 0
    train_ready = prepare_images(train_x, transform, augment=augment) if loader.prepares else None
    val_ready = prepare_images(val_x, transform, augment=False) if loader.prepares else None

    def make_train(batch_size: int) -> TensorLoader:
        return loader(
            train_x,
            train_y,
            transform,
            batch_size,
            shuffle=True,
            seed=config.seed,
            hflip=data.augment.hflip,
            crop_padding=data.augment.crop_padding,
            prepared=train_ready,
        )

    val = loader(
        val_x,
        val_y,
        transform,
        data.val_batch_size or 2 * data.batch_size,
        shuffle=False,
        drop_last_single=False,
        prepared=val_ready,
    )
    return DataBundle(
        num_classes=len(split.class_names),
        class_names=split.class_names,
        in_channels=out_channels,
        image_size=size,
        train_samples=int(train_y.shape[0]),
        val_samples=int(val_y.shape[0]),
        make_train=make_train,
        val=val,
        input_spec=tensor_input_spec(transform, size, "L" if channels == 1 else "RGB"),
    )


def with_split(bundle: DataBundle, config: RunConfig) -> DataBundle:
    """In-memory data: its `split` line (digits stratified, generated data's first ones held out,
    CIFAR-10 its own test set), by `split_plan.tensor_split_source`, as `check` says it."""
    total = bundle.train_samples + bundle.val_samples
    source, what = tensor_split_source(config, total)
    bundle.split = split_line(bundle.train_samples, bundle.val_samples, what, source)
    return bundle
