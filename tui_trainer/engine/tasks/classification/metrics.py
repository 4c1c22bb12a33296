"""Validation metrics, accumulated on the device, synced once per epoch.

Accuracy is two counters on the device (what torchmetrics' micro `MulticlassAccuracy` keeps,
without importing torchmetrics, which pulls in torchvision and torch._dynamo at start-up);
tests/unit/test_startup_equivalence.py proves the results equal torchmetrics'. The per-class
report is numpy (`class_report`), equal to scikit-learn's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.tasks.classification.class_report import ClassScores, confusion, report_text

MATRIX_MAX_CLASSES = 20  # the text report shows the confusion matrix up to this many classes


MATRIX_MAX_WIDTH = 72
"""Columns headed by the class names only while the matrix fits this many characters
(the summary's report panel at 80 columns)."""


def format_confusion_matrix(matrix: list[list[int]], class_names: list[str]) -> str:
    """The confusion matrix as aligned text: rows are true classes, columns predicted ones.

    Names are never cut: the columns are headed by the class names when they fit in
    `MATRIX_MAX_WIDTH`, else by the row numbers, and each row starts with its number and name.
    """
    values = max(5, *(len(str(v)) for row in matrix for v in row))
    label = max(len("true/pred"), *(len(n) for n in class_names))
    named = max(values, *(len(n) for n in class_names))
    if label + 2 + len(class_names) * (named + 1) <= MATRIX_MAX_WIDTH:
        width, cols, rows = named, list(class_names), list(class_names)
    else:
        cols = [str(i) for i in range(len(class_names))]
        digits = len(cols[-1]) if cols else 1
        width = max(digits, *(len(str(v)) for row in matrix for v in row))  # as narrow as can be
        rows = [f"{i:>{digits}} {name}" for i, name in enumerate(class_names)]
        label = max(len("true/pred"), *(len(r) for r in rows))
    corner = "true/pred"
    lines = [f"{corner:<{label}}  " + " ".join(f"{c:>{width}}" for c in cols)]
    for name, row in zip(rows, matrix, strict=True):
        lines.append(f"{name:<{label}}  " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


class ClassificationEvaluator:
    """Accuracy over the validation set plus the predictions for the per-class report.

    In a multi-process run each rank sees a shard of the validation set: `compute` sums the
    counters over the ranks (one collective), and `report` gathers every rank's predictions.
    """

    sharded_validation = True  # results are whole-set numbers even when each rank sees a shard

    def __init__(self, num_classes: int, device: torch.device, dist: DistContext = SINGLE) -> None:
        self.dist = dist
        self._counts = torch.zeros(2, dtype=torch.int64, device=device)  # correct, seen
        self._preds: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def reset(self) -> None:
        """Start a new validation pass."""
        self._counts.zero_()
        self._preds.clear()
        self._targets.clear()

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one batch (no host sync)."""
        preds = logits.argmax(dim=1)
        self._counts[0] += (preds == targets).sum()
        self._counts[1] += targets.numel()
        self._preds.append(preds)
        self._targets.append(targets)

    def compute(self) -> dict[str, float]:
        """The epoch's metrics as Python floats (one sync)."""
        counts = self.dist.all_reduce_sum(self._counts.clone()).float()
        # float32 division, as torchmetrics computes it; 0 before any update
        return {"val_accuracy": float(counts[0] / counts[1].clamp_min(1))}

    def _gathered(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(predictions, targets) of the last pass over every rank; None before any update."""
        mine = (
            (torch.cat(self._preds).cpu(), torch.cat(self._targets).cpu()) if self._preds else None
        )
        parts = [p for p in self.dist.gather_objects(mine) if p is not None]
        if not parts:
            return None
        preds = torch.cat([p[0] for p in parts]).numpy()
        targets = torch.cat([p[1] for p in parts]).numpy()
        return preds, targets

    def _scores(self, classes: int) -> tuple[np.ndarray, ClassScores] | None:
        """(confusion matrix, per-class scores) of the last pass; None before any update."""
        both = self._gathered()
        if both is None:
            return None
        preds, targets = both
        matrix = confusion(targets, preds, classes)
        return matrix, ClassScores.of(matrix)

    def report(self, class_names: list[str]) -> str:
        """Per-class precision, recall (= per-class accuracy) and F1 of the last pass, and the
        confusion matrix (up to MATRIX_MAX_CLASSES classes)."""
        found = self._scores(len(class_names))
        if found is None:
            return ""
        matrix, scores = found
        text = report_text(scores, class_names)
        if len(class_names) <= MATRIX_MAX_CLASSES:
            text = (
                f"{text.rstrip()}\n\nconfusion matrix (rows: true class, columns: predicted)\n"
                f"{format_confusion_matrix(matrix.tolist(), class_names)}\n"
            )
        return text

    def details(self, class_names: list[str]) -> dict[str, Any]:
        """The last pass as plain values: per-class precision/recall/F1/support and the full
        confusion matrix (`matrix[true][pred]`)."""
        found = self._scores(len(class_names))
        if found is None:
            return {}
        matrix, scores = found
        per_class = {
            name: {
                "precision": float(scores.precision[i]),
                "recall": float(scores.recall[i]),
                "f1": float(scores.f1[i]),
                "support": int(scores.support[i]),
            }
            for i, name in enumerate(class_names)
        }
        averages = {}
        for kind in ("macro", "weighted"):
            p, r, f, support = scores.average(kind)
            averages[f"{kind} avg"] = {
                "precision": p,
                "recall": r,
                "f1": f,
                "support": float(support),
            }
        return {
            "per_class": per_class,
            "averages": averages,
            "confusion_matrix": {"labels": list(class_names), "matrix": matrix.tolist()},
        }
