"""CIFAR-10 from a local root (torchvision's `cifar-10-batches-py` layout), held in memory."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets import CIFAR10

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import TensorSplit
from tui_trainer.errors import UserError


def load_cifar10_split(config: RunConfig) -> TensorSplit:
    """The official 50,000/10,000 split as uint8 tensors, normalised to [-1, 1] by default."""
    root = Path(config.data.root or "data")
    try:
        train = CIFAR10(str(root), train=True, download=config.data.download)
        val = CIFAR10(str(root), train=False, download=config.data.download)
    except RuntimeError as exc:
        raise UserError(
            f"data.root: CIFAR-10 not found in '{root}' (expected {root}/cifar-10-batches-py/ "
            "with data_batch_1..5 and test_batch); copy the extracted archive there, or set "
            "data.download=true on a machine with internet access"
        ) from exc
    except OSError as exc:
        raise UserError(
            f"data.root: could not download CIFAR-10 into '{root}' ({exc}); copy the extracted "
            f"cifar-10-batches-py/ folder there instead"
        ) from exc

    def tensors(ds: CIFAR10) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        return x, torch.tensor(ds.targets, dtype=torch.int64)

    tx, ty = tensors(train)
    vx, vy = tensors(val)
    return TensorSplit(tx, ty, vx, vy, list(train.classes), 255.0, (0.5,) * 3, (0.5,) * 3)
