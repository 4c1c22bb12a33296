"""The segmentation task: what the trainer asks of it (see `engine.tasks.base.Task`).

Its losses and metrics are imported on first use, so a classification run loads none of them.
"""

from __future__ import annotations

import torch
from torch import nn

from tui_trainer.config.pycode import is_code_name
from tui_trainer.config.schema import RunConfig
from tui_trainer.config.tasks import TASKS
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.tasks.base import Evaluator, TensorTask
from tui_trainer.engine.user_code import build_user_loss


class SegmentationTask(TensorTask):
    """Semantic segmentation: Dice/IoU/BCE/focal losses, Dice and IoU, per-class table.

    The running training metric is `train_dice`: each batch's foreground Dice of hard
    predictions, averaged over the epoch weighted by batch size (the tutorial's dice_coeff).
    """

    train_metric = TASKS["segmentation"].train_metric

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    def loss(self) -> nn.Module:
        """The configured segmentation loss (for binary and multi-class outputs alike), or a
        user's module:Class built with loss.kwargs."""
        if is_code_name(self.config.loss.name):
            return build_user_loss(self.config.loss)
        from tui_trainer.engine.tasks.segmentation.losses import build_segmentation_loss

        return build_segmentation_loss(self.config.loss)

    def evaluator(
        self, num_classes: int, device: torch.device, dist: DistContext = SINGLE
    ) -> Evaluator:
        """Validation Dice/IoU per class, the report table and a mask preview (per rank)."""
        from tui_trainer.engine.tasks.segmentation.metrics import SegmentationEvaluator

        return SegmentationEvaluator(num_classes, device)

    def train_hits(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(batch Dice × batch size as a device tensor, batch size): no host sync."""
        from tui_trainer.engine.tasks.segmentation.metrics import batch_dice

        n, channels = int(targets.shape[0]), int(logits.shape[1])
        return batch_dice(logits, targets, 2 if channels == 1 else channels) * n, n
