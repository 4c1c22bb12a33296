"""What differs between tasks: the loss, the validation evaluator, the running train metric.

The trainer asks the task for these and knows nothing else task-specific, so a new task (e.g.
segmentation) is a new `Task` here plus its data, models and metrics modules.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from tui_trainer.config.schema import RunConfig
from tui_trainer.config.tasks import TASKS
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.losses import build_loss
from tui_trainer.engine.metrics import ClassificationEvaluator


class Evaluator(Protocol):
    """Accumulates validation metrics on the device; syncs once in `compute`."""

    def reset(self) -> None: ...
    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None: ...
    def compute(self) -> dict[str, float]: ...
    def report(self, class_names: list[str]) -> str: ...


class Task(Protocol):
    """The task-specific parts of a run."""

    train_metric: str  # the name of the running training metric in epoch lines

    def loss(self) -> nn.Module: ...
    def evaluator(
        self, num_classes: int, device: torch.device, dist: DistContext = SINGLE
    ) -> Evaluator: ...
    def train_hits(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(hits as a device tensor, count) for the running training metric; no host sync."""
        ...


class ClassificationTask:
    """Image classification: cross-entropy, accuracy, per-class report."""

    train_metric = TASKS["classification"].train_metric

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    def loss(self) -> nn.Module:
        """The configured loss."""
        return build_loss(self.config.loss)

    def evaluator(
        self, num_classes: int, device: torch.device, dist: DistContext = SINGLE
    ) -> Evaluator:
        """Validation accuracy plus the per-class report (gathered over `dist`'s ranks)."""
        return ClassificationEvaluator(num_classes, device, dist)

    def train_hits(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Correct predictions in the batch."""
        return (logits.argmax(1) == targets).sum(), int(targets.shape[0])


class SegmentationTask:
    """Semantic segmentation: Dice/IoU/BCE/focal losses, Dice and IoU, per-class table.

    The running training metric is `train_dice`: each batch's foreground Dice of hard
    predictions, averaged over the epoch weighted by batch size (the tutorial's dice_coeff).
    """

    train_metric = TASKS["segmentation"].train_metric

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    def loss(self) -> nn.Module:
        """The configured segmentation loss (for binary and multi-class outputs alike)."""
        from tui_trainer.engine.seg_losses import build_segmentation_loss

        return build_segmentation_loss(self.config.loss)

    def evaluator(
        self, num_classes: int, device: torch.device, dist: DistContext = SINGLE
    ) -> Evaluator:
        """Validation Dice/IoU per class, the report table and a mask preview (per rank)."""
        from tui_trainer.engine.seg_metrics import SegmentationEvaluator

        return SegmentationEvaluator(num_classes, device)

    def train_hits(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(batch Dice × batch size as a device tensor, batch size): no host sync."""
        from tui_trainer.engine.seg_metrics import batch_dice

        n, channels = int(targets.shape[0]), int(logits.shape[1])
        return batch_dice(logits, targets, 2 if channels == 1 else channels) * n, n


ENGINE_TASKS: dict[str, type[ClassificationTask] | type[SegmentationTask]] = {
    "classification": ClassificationTask,
    "segmentation": SegmentationTask,
}
"""The engine side of the task registry (`tui_trainer.config.tasks.TASKS` has the names)."""


def build_task(config: RunConfig) -> Task:
    """The Task for `config.task`."""
    return ENGINE_TASKS[config.task](config)
