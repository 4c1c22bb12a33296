"""Training losses by name."""

from __future__ import annotations

from torch import nn

from tui_trainer.config.schema import LossConfig


def build_loss(cfg: LossConfig) -> nn.Module:
    """The loss module for `cfg` (mean reduction over the batch)."""
    return nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
