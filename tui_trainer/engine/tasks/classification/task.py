"""The classification task: what the trainer asks of it (see `engine.tasks.base.Task`)."""

from __future__ import annotations

import torch
from torch import nn

from tui_trainer.config.pycode import is_code_name
from tui_trainer.config.schema import RunConfig
from tui_trainer.config.tasks import TASKS
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.tasks.base import Evaluator, TensorTask
from tui_trainer.engine.tasks.classification.losses import build_loss
from tui_trainer.engine.tasks.classification.metrics import ClassificationEvaluator
from tui_trainer.engine.user_code import build_user_loss


class ClassificationTask(TensorTask):
    """Image classification: cross-entropy, accuracy, per-class report."""

    train_metric = TASKS["classification"].train_metric

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    def loss(self) -> nn.Module:
        """The configured loss (a user's module:Class built with loss.kwargs)."""
        if is_code_name(self.config.loss.name):
            return build_user_loss(self.config.loss)
        return build_loss(self.config.loss)

    def evaluator(
        self, num_classes: int, device: torch.device, dist: DistContext = SINGLE
    ) -> Evaluator:
        """Validation accuracy plus the per-class report (gathered over `dist`'s ranks)."""
        return ClassificationEvaluator(num_classes, device, dist)

    def train_hits(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Correct predictions in the batch."""
        return (logits.argmax(1) == targets).sum(), int(targets.shape[0])
