"""The segmentation data sources by `data.name` (the engine side of `config.datasets`).

Each builder imports its reader on first use, so a run loads only its own source.
"""

from __future__ import annotations

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle, with_split
from tui_trainer.engine.tasks.base import DataBuilder


def shapes(config: RunConfig, device: torch.device, channels: int | None) -> DataBundle:
    """Generated shapes with exact masks, held in memory (`channels` is not used)."""
    from tui_trainer.engine.tasks.segmentation.loader import seg_tensor_bundle
    from tui_trainer.engine.tasks.segmentation.shapes import make_shapes_split

    return with_split(seg_tensor_bundle(make_shapes_split(config), config, device), config)


def segfolder(config: RunConfig, device: torch.device, channels: int | None) -> DataBundle:
    """Image and mask folders, decoded by loader workers (`channels` is not used)."""
    from tui_trainer.engine.tasks.segmentation.folder import segfolder_bundle

    return segfolder_bundle(config, device)


DATASETS: dict[str, DataBuilder] = {"shapes": shapes, "segfolder": segfolder}
