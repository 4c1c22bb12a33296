"""Segmentation losses on logits: cross-entropy, Dice, BCE + Dice, IoU (Jaccard), focal.

Every loss takes `logits` (N, C, H, W) and integer masks `targets` (N, H, W) and works for both
output layouts:

- binary: C = 1, probabilities by sigmoid, targets 0/1;
- multi-class: C = number of classes, probabilities by softmax, targets 0..C-1.

"bce" and "cross_entropy" are the same term: binary cross-entropy for one channel, softmax
cross-entropy for several. Dice and IoU are soft (on probabilities), summed over the whole batch
per class, with `smooth` added to numerator and denominator so that empty masks give a finite
loss: (2·Σpt + s) / (Σp + Σt + s) is 1 when nothing is there and nothing is predicted. For
multi-class outputs they are averaged over all classes (background included). The loss is
computed in float32 even under autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tui_trainer.config.schema import LossConfig

_EPS = 1e-7


def probabilities_and_targets(
    logits: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel probabilities and matching one-hot (float) targets, both (N, C, H, W)."""
    if logits.shape[1] == 1:
        return torch.sigmoid(logits), (targets == 1).unsqueeze(1).to(logits.dtype)
    onehot = F.one_hot(targets, logits.shape[1]).permute(0, 3, 1, 2)
    return torch.softmax(logits, dim=1), onehot.to(logits.dtype)


def soft_dice(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice coefficient per channel (C,), over the whole batch."""
    probs, onehot = probabilities_and_targets(logits, targets)
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    denom = probs.sum(dims) + onehot.sum(dims)
    return (2 * inter + smooth) / (denom + smooth).clamp_min(_EPS)


def soft_iou(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft IoU (Jaccard index) per channel (C,), over the whole batch."""
    probs, onehot = probabilities_and_targets(logits, targets)
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    union = probs.sum(dims) + onehot.sum(dims) - inter
    return (inter + smooth) / (union + smooth).clamp_min(_EPS)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 − mean soft Dice (the tutorial's DiceLoss, for logits)."""
    return 1 - soft_dice(logits, targets, smooth).mean()


def iou_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 − mean soft IoU (Jaccard loss)."""
    return 1 - soft_iou(logits, targets, smooth).mean()


def cross_entropy_loss(
    logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Pixel-mean cross-entropy: sigmoid BCE for one channel, softmax CE for several.

    Binary label smoothing moves the 0/1 targets towards 0.5 by `label_smoothing` / 2.
    """
    if logits.shape[1] == 1:
        t = (targets == 1).unsqueeze(1).to(logits.dtype)
        if label_smoothing:
            t = t * (1 - label_smoothing) + 0.5 * label_smoothing
        return F.binary_cross_entropy_with_logits(logits, t)
    return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
) -> torch.Tensor:
    """Pixel-mean focal loss −α_t (1 − p_t)^γ log p_t (Lin et al. 2017).

    Binary: α_t is `alpha` on foreground pixels and 1 − alpha on background (None: 1).
    Multi-class: softmax p_t of the true class, no α.
    """
    if logits.shape[1] == 1:
        t = (targets == 1).unsqueeze(1).to(logits.dtype)
        ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce * (1 - p_t) ** gamma
        if alpha is not None:
            loss = loss * (alpha * t + (1 - alpha) * (1 - t))
        return loss.mean()
    log_p = torch.log_softmax(logits, dim=1).gather(1, targets.unsqueeze(1))
    return (-((1 - log_p.exp()) ** gamma) * log_p).mean()


class SegmentationLoss(nn.Module):
    """The configured segmentation loss as a module: `loss(logits, targets)`."""

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The batch loss (a scalar), in float32."""
        cfg = self.cfg
        with torch.autocast(device_type=logits.device.type, enabled=False):
            logits = logits.float()
            if cfg.name in ("cross_entropy", "bce"):
                return cross_entropy_loss(logits, targets, cfg.label_smoothing)
            if cfg.name == "dice":
                return dice_loss(logits, targets, cfg.smooth)
            if cfg.name == "iou":
                return iou_loss(logits, targets, cfg.smooth)
            if cfg.name == "focal":
                return focal_loss(logits, targets, cfg.focal_gamma, cfg.focal_alpha)
            if cfg.name == "bce_dice":
                w = cfg.bce_weight
                ce = cross_entropy_loss(logits, targets, cfg.label_smoothing)
                return w * ce + (1 - w) * dice_loss(logits, targets, cfg.smooth)
        raise ValueError(f"loss.name: unknown segmentation loss '{cfg.name}'")


def build_segmentation_loss(cfg: LossConfig) -> nn.Module:
    """The loss module for a segmentation run."""
    return SegmentationLoss(cfg)
