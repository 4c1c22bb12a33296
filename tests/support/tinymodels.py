"""User models for tests, loaded as `model.name=support.tinymodels:Class` (tests/ on pythonpath)."""

from __future__ import annotations

import os

import torch
from torch import nn


class TinyBN(nn.Module):
    """A small CNN with BatchNorm in its backbone, for freeze tests."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class OOMAbove(nn.Module):
    """A small CNN whose training forward 'runs out of memory' above `limit` samples a batch."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, limit: int = 16) -> None:
        super().__init__()
        self.limit = limit
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(8 * 8 * 8, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


class DieOnRank1(nn.Module):
    """A small CNN whose training forward fails on rank 1 (torchrun's RANK) after `steps` calls."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, steps: int = 3) -> None:
        super().__init__()
        self.steps, self.calls = steps, 0
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 8 * 8, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and os.environ.get("RANK") == "1":
            self.calls += 1
            if self.calls > self.steps:
                raise RuntimeError("simulated crash on rank 1")
        return self.net(x)


class KilledOnRank1(nn.Module):
    """A small linear model; on rank 1 of a torchrun job's first attempt
    (TORCHELASTIC_RESTART_COUNT 0) its `steps + 1`-th training forward SIGKILLs the process,
    as a node's out-of-memory killer would. Anywhere else it is an ordinary model."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, steps: int = 30) -> None:
        super().__init__()
        self.steps, self.calls = steps, 0
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 8 * 8, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0"
        if self.training and first and os.environ.get("RANK") == "1":
            self.calls += 1
            if self.calls > self.steps:
                import signal

                os.kill(os.getpid(), signal.SIGKILL)
        return self.net(x)
