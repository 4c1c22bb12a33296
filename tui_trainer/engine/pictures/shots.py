"""What a validation pass captured for pictures, on the host: one `Shot` per kept image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch


@dataclass
class Shot:
    """One kept validation image (downscaled) and what the model made of it."""

    position: int  # its place in this process's validation order
    image: torch.Tensor  # (1|3, h, w) float in [0, 1]
    true_id: int | None = None  # classification
    pred_id: int | None = None
    confidence: float | None = None
    score: float | None = None  # segmentation: Dice; detection: F1 at IoU 0.5
    true_mask: torch.Tensor | None = None  # segmentation: (h, w) class ids
    pred_mask: torch.Tensor | None = None
    true_boxes: torch.Tensor | None = None  # detection: (n, 5) xyxy + class id, tile pixels
    pred_boxes: torch.Tensor | None = None  # detection: (m, 6) xyxy + score + class id

    @property
    def correct(self) -> bool:
        """Classification: predicted the true class; others: a score of at least 0.5."""
        if self.true_id is not None:
            return self.true_id == self.pred_id
        return self.score is not None and self.score >= 0.5


@dataclass
class Captured:
    """A pass's pictures: the fixed samples in position order, the mistakes worst first."""

    task: str
    samples: list[Shot] = field(default_factory=list)
    mistakes: list[Shot] = field(default_factory=list)
    confusion: list[list[int]] | None = None  # classification: matrix[true][pred]
    skipped: str = ""  # why nothing was captured (outputs the pictures cannot read)


class Collector(Protocol):
    """Sees each validation batch inside `validate` (no extra forward pass)."""

    def update(self, x: torch.Tensor, targets: Any, outputs: Any) -> None:
        """One batch: the model input, its targets and the task's eval outputs."""
        ...

    def finish(self) -> Captured:
        """The pass's pictures on the host (the one sync of the collector)."""
        ...
