"""A user's own images: `root/train/<class>/*`, `root/val/<class>/*`, or one folder to split."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, Dataset, Sampler, Subset
from torchvision import datasets
from torchvision.transforms import v2

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.data.inputs import InputSpec
from tui_trainer.engine.distributed import shard_indices
from tui_trainer.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUT = "class folders, or train/ and val/ folders that each hold class folders"


class EpochSampler(Sampler[int]):
    """A seeded per-epoch permutation that can start part-way through (for exact resume).

    In a multi-process run (`rank`, `world_size`) it yields this rank's share of the permutation,
    split like TensorLoader's (`shard_indices`).
    """

    def __init__(self, n: int, seed: int, shuffle: bool) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch = 0
        self.start = 0
        self.rank, self.world_size, self.pad = 0, 1, True

    @property
    def shard_samples(self) -> int:
        """Samples this rank sees in one epoch."""
        w = self.world_size
        if w == 1:
            return self.n
        return -(-self.n // w) if self.pad else len(range(self.rank, self.n, w))

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=gen)
        else:
            order = torch.arange(self.n)
        order = shard_indices(order, self.rank, self.world_size, self.pad)
        return iter(order.tolist()[self.start :])

    def __len__(self) -> int:
        return self.shard_samples - self.start


class FolderLoader:
    """A DataLoader over image files with the same interface as TensorLoader."""

    def __init__(self, dataset: Dataset, batch_size: int, config: RunConfig, shuffle: bool):
        self.dataset = dataset
        self.batch_size = batch_size
        self.n = len(dataset)  # type: ignore[arg-type]
        self.sampler = EpochSampler(self.n, config.seed, shuffle)
        self.shuffle = shuffle
        self.num_workers = config.data.num_workers
        self.pin_memory = (
            bool(config.data.pin_memory)
            if config.data.pin_memory is not None
            else (torch.cuda.is_available() and config.device != "cpu")
        )

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration reproduces."""
        self.sampler.epoch = epoch

    def shard(self, rank: int, world_size: int, *, pad: bool) -> FolderLoader:
        """Yield only rank `rank` of `world_size`'s share from now on."""
        self.sampler.rank, self.sampler.world_size, self.sampler.pad = rank, world_size, pad
        return self

    def batch_sizes(self) -> list[int]:
        """Batch sizes of one epoch (a trailing batch of 1 is dropped when training)."""
        b, n = self.batch_size, self.sampler.shard_samples
        sizes = [b] * (n // b) + ([n % b] if n % b else [])
        if self.shuffle and len(sizes) > 1 and sizes[-1] == 1:
            sizes.pop()
        return sizes

    def __len__(self) -> int:
        return len(self.batch_sizes())

    def iterate(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (inputs, targets) batches from batch index `start` on."""
        self.sampler.start = start * self.batch_size
        s = self.sampler
        gen = torch.Generator().manual_seed(s.seed + 7919 * s.epoch + 104_723 * s.rank)
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            drop_last=False,
            generator=gen,
            persistent_workers=False,
        )
        remaining = len(self) - start
        for i, batch in enumerate(loader):
            if i >= remaining:
                break
            yield batch[0], batch[1]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iterate(0)


def _transforms(config: RunConfig, train: bool) -> v2.Compose:
    data = config.data
    size = data.image_size or 224
    mean = tuple(data.normalize.mean) if data.normalize else IMAGENET_MEAN
    std = tuple(data.normalize.std) if data.normalize else IMAGENET_STD
    steps: list = [v2.ToImage(), v2.Resize((size, size), antialias=True)]
    if train and data.augment.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if train and data.augment.crop_padding:
        steps.append(v2.RandomCrop(size, padding=data.augment.crop_padding))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)


def _image_folder(path: Path, config: RunConfig, train: bool) -> datasets.ImageFolder:
    try:
        return datasets.ImageFolder(str(path), transform=_transforms(config, train))
    except FileNotFoundError as exc:
        raise UserError(f"data.root: {exc} (expected {LAYOUT})") from None


def folder_bundle(
    config: RunConfig, device: torch.device, model_channels: int | None = None
) -> DataBundle:
    """Image-folder data; the split is stratified and seeded when there is no val/ folder."""
    if not config.data.root:
        raise UserError(f"data.root: imagefolder needs a folder ({LAYOUT})")
    root = Path(config.data.root)
    if not root.is_dir():
        raise UserError(f"data.root: folder '{root}' not found (imagefolder expects {LAYOUT})")
    if (root / "train").is_dir() and (root / "val").is_dir():
        train_ds = _image_folder(root / "train", config, True)
        val_ds = _image_folder(root / "val", config, False)
        if val_ds.classes != train_ds.classes:
            raise UserError(
                f"data.root: '{root}/val' classes {val_ds.classes} differ from "
                f"'{root}/train' classes {train_ds.classes}"
            )
        classes = train_ds.classes
    else:
        full_train = _image_folder(root, config, True)
        full_val = _image_folder(root, config, False)
        targets = full_train.targets
        counts = torch.bincount(torch.tensor(targets))
        stratify = targets if int(counts.min()) >= 2 else None
        idx_train, idx_val = train_test_split(
            list(range(len(targets))),
            test_size=config.data.val_split,
            random_state=config.seed,
            stratify=stratify,
        )
        train_ds, val_ds = Subset(full_train, idx_train), Subset(full_val, idx_val)
        classes = full_train.classes
    if len(classes) < 2:
        raise UserError(f"data.root: '{root}' has {len(classes)} class folder(s); need at least 2")
    size = config.data.image_size or 224

    def make_train(batch_size: int) -> FolderLoader:
        return FolderLoader(train_ds, batch_size, config, shuffle=True)

    val = FolderLoader(
        val_ds, config.data.val_batch_size or 2 * config.data.batch_size, config, False
    )
    return DataBundle(
        num_classes=len(classes),
        class_names=list(classes),
        in_channels=3,
        image_size=size,
        train_samples=len(train_ds),
        val_samples=len(val_ds),
        make_train=make_train,
        val=val,
        input_spec=folder_input_spec(config),
    )


def folder_input_spec(config: RunConfig) -> InputSpec:
    """Image files as ImageFolder's validation samples: RGB, then the validation transforms."""
    transform = _transforms(config, train=False)
    normalize = transform.transforms[-1]
    size = config.data.image_size or 224
    return InputSpec(
        size=size,
        channels=3,
        mean=tuple(normalize.mean),
        std=tuple(normalize.std),
        mode="RGB",
        resize="bilinear with antialias (torchvision.transforms.v2.Resize)",
        prepare=lambda img: transform(img.convert("RGB")),
    )
