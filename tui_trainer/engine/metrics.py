"""Validation metrics, accumulated on the device (torchmetrics), synced once per epoch."""

from __future__ import annotations

import torch
from sklearn.metrics import classification_report
from torchmetrics.classification import MulticlassAccuracy

from tui_trainer.engine.distributed import SINGLE, DistContext


class ClassificationEvaluator:
    """Accuracy over the validation set plus the predictions for the per-class report.

    In a multi-process run each rank sees a shard of the validation set: torchmetrics reduces
    the accuracy over the ranks in `compute`, and `report` gathers every rank's predictions.
    """

    sharded_validation = True  # results are whole-set numbers even when each rank sees a shard

    def __init__(self, num_classes: int, device: torch.device, dist: DistContext = SINGLE) -> None:
        self.dist = dist
        self.accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro").to(device)
        self._preds: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def reset(self) -> None:
        """Start a new validation pass."""
        self.accuracy.reset()
        self._preds.clear()
        self._targets.clear()

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one batch (no host sync)."""
        preds = logits.argmax(dim=1)
        self.accuracy.update(preds, targets)
        self._preds.append(preds)
        self._targets.append(targets)

    def compute(self) -> dict[str, float]:
        """The epoch's metrics as Python floats (one sync)."""
        return {"val_accuracy": float(self.accuracy.compute())}

    def report(self, class_names: list[str]) -> str:
        """Per-class precision, recall (= per-class accuracy) and F1 of the last pass."""
        mine = (
            (torch.cat(self._preds).cpu(), torch.cat(self._targets).cpu()) if self._preds else None
        )
        parts = [p for p in self.dist.gather_objects(mine) if p is not None]
        if not parts:
            return ""
        preds = torch.cat([p[0] for p in parts]).numpy()
        targets = torch.cat([p[1] for p in parts]).numpy()
        return classification_report(
            targets,
            preds,
            labels=list(range(len(class_names))),
            target_names=class_names,
            digits=4,
            zero_division=0,
        )
