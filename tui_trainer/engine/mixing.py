"""Mixup and CutMix on training batches, through torchvision's v2 transforms.

Each training micro-batch gets Mixup with probability `data.augment.mixup.prob`, else CutMix
with probability `data.augment.cutmix.prob`, else nothing. A mixed batch has soft targets (one
row of class probabilities per sample) that the cross-entropy loss takes as they are; the
running train accuracy compares predictions with each sample's dominant label (the larger
share of the mix), the usual convention (timm, Ultralytics).

The choice and λ come from torch's global CPU generator: seeded with the run, saved in
checkpoints (so a resume mixes the same way) and never a device sync. torchvision is imported
only when mixing is on, so runs without it start without torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from tui_trainer.config.schema import AugmentConfig


@dataclass(frozen=True)
class MixedBatch:
    """A training batch after mixing."""

    images: torch.Tensor
    targets: torch.Tensor  # class indices, or (N, C) probabilities when mixed
    labels: torch.Tensor  # class indices: the dominant label of each sample
    kind: str  # "none", "mixup" or "cutmix"


class BatchMixer:
    """Applies Mixup/CutMix to (images, labels) batches as configured."""

    def __init__(self, augment: AugmentConfig, num_classes: int) -> None:
        self.mixup_prob = float(augment.mixup.prob)
        self.cutmix_prob = float(augment.cutmix.prob)
        self.mixup: Any = None
        self.cutmix: Any = None
        if self.enabled:
            from torchvision.transforms import v2

            self.mixup = v2.MixUp(alpha=augment.mixup.alpha, num_classes=num_classes)
            self.cutmix = v2.CutMix(alpha=augment.cutmix.alpha, num_classes=num_classes)

    @property
    def enabled(self) -> bool:
        """Whether any batch may be mixed."""
        return self.mixup_prob > 0 or self.cutmix_prob > 0

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> MixedBatch:
        """Mix one batch (the inputs are never modified in place)."""
        if not self.enabled or images.shape[0] < 2:
            return MixedBatch(images, labels, labels, "none")
        u = float(torch.rand(()))
        if u < self.mixup_prob:
            kind, transform = "mixup", self.mixup
        elif u < self.mixup_prob + self.cutmix_prob:
            kind, transform = "cutmix", self.cutmix
        else:
            return MixedBatch(images, labels, labels, "none")
        mixed, soft = transform(images, labels)
        return MixedBatch(mixed, soft, soft.argmax(1), kind)
