"""The classification data sources by `data.name` (the engine side of `config.datasets`).

Each builder imports its reader on first use, so a run loads only its own source.
"""

from __future__ import annotations

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle, TensorSplit, tensor_bundle, with_split
from tui_trainer.engine.tasks.base import DataBuilder


def _in_memory(
    split: TensorSplit, config: RunConfig, device: torch.device, channels: int | None
) -> DataBundle:
    """In-memory tensors on `device`, with their split line."""
    return with_split(tensor_bundle(split, config, device, channels), config)


def digits(config: RunConfig, device: torch.device, channels: int | None) -> DataBundle:
    """scikit-learn's 8x8 digits, held in memory."""
    from tui_trainer.engine.data.digits import load_digits_split

    return _in_memory(load_digits_split(config), config, device, channels)


def fake(config: RunConfig, device: torch.device, channels: int | None) -> DataBundle:
    """Generated class templates under noise, held in memory."""
    from tui_trainer.engine.data.fake import make_fake_split

    return _in_memory(make_fake_split(config), config, device, channels)


def cifar10(config: RunConfig, device: torch.device, channels: int | None) -> DataBundle:
    """CIFAR-10 from data.root, held in memory."""
    from tui_trainer.engine.data.cifar10 import load_cifar10_split

    return _in_memory(load_cifar10_split(config), config, device, channels)


def imagefolder(config: RunConfig, device: torch.device, channels: int | None) -> DataBundle:
    """A folder of class folders, decoded by loader workers."""
    from tui_trainer.engine.data.imagefolder import folder_bundle

    return folder_bundle(config, device, channels)


DATASETS: dict[str, DataBuilder] = {
    "digits": digits,
    "fake": fake,
    "cifar10": cifar10,
    "imagefolder": imagefolder,
}
