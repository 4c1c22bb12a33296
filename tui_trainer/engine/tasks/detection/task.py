"""The detection task: what the trainer asks of it (see `engine.tasks.base.Task`).

A batch's targets are a list of dicts (`boxes` xyxy in network pixels, 0-based `labels`, plus
the letterbox that maps them back to the image). Detectors follow torchvision's contract: in
training mode `model(images, targets)` returns a dict of losses, in eval mode `model(images)`
returns `boxes`, `scores` and `labels` per image. The model's class 0 is the background, so
labels go in as `label + 1` and come out minus one; loaders and the evaluator speak 0-based.

The validation loss is the same dict of losses computed on the validation batch with the
model in training mode but its BatchNorm layers in eval mode, under a forked RNG (a detector's
training forward samples proposals): it costs a second forward pass and leaves the run's random
streams as they were, so a resumed or replayed run is unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from tui_trainer.config.schema import RunConfig
from tui_trainer.config.tasks import TASKS
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.tasks.base import Evaluator, Forward, Targets
from tui_trainer.errors import TrainingError

MODEL_KEYS = ("boxes", "labels")  # what a detector's training forward reads of a target


class DetectorLoss(nn.Module):
    """The detector's own losses, summed (the `criterion` of a detection run)."""

    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The sum of the loss dict a detector returns in training mode."""
        if not isinstance(losses, Mapping) or not losses:
            raise TrainingError(
                "a detector in training mode must return a dict of losses (torchvision's "
                f"detection contract), got {type(losses).__name__}"
            )
        return torch.stack([v.float() for v in losses.values()]).sum()


def part_name(key: str) -> str:
    """A loss key as an epoch-line part: `loss_box_reg` -> `box_reg`."""
    return key.removeprefix("loss_")


def model_targets(targets: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """What the detector is given: the boxes, and labels shifted past the background class."""
    return [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]


def from_model(outputs: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """A detector's eval outputs in float32 with 0-based labels."""
    return [
        {"boxes": o["boxes"].float(), "scores": o["scores"].float(), "labels": o["labels"] - 1}
        for o in outputs
    ]


@contextlib.contextmanager
def loss_mode(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Training mode for a loss-only forward: BatchNorm keeps its running statistics, the
    RNG its state; every module's mode is put back afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        model.train()
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        try:
            yield
        finally:
            for module, training in modes:
                module.training = training


class DetectionTask:
    """Object detection: the detector's own losses (logged by part), COCO mAP, per-class AP.

    There is no running training metric (mAP needs eval-mode predictions): the epoch line has
    `train_loss_<part>` for each of the detector's losses instead.
    """

    train_metric = TASKS["detection"].train_metric

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self._none: torch.Tensor | None = None

    def loss(self) -> nn.Module:
        """The sum of the detector's losses."""
        return DetectorLoss()

    def evaluator(
        self, num_classes: int, device: torch.device, dist: DistContext = SINGLE
    ) -> Evaluator:
        """COCO mAP over the validation images (gathered over `dist`'s ranks)."""
        from tui_trainer.engine.tasks.detection.metrics import DetectionEvaluator

        return DetectionEvaluator(num_classes, device, dist)

    def train_hits(self, outputs: Any, targets: Targets) -> tuple[torch.Tensor, int]:
        """No running training metric: (0, 0)."""
        if self._none is None:
            device = targets[0]["boxes"].device if targets else torch.device("cpu")
            self._none = torch.zeros((), device=device)
        return self._none, 0

    def to_device(self, targets: Targets, device: torch.device) -> Targets:
        """Every tensor of every target dict on `device`."""
        return [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]

    def count(self, targets: Targets) -> int:
        """Images in the batch."""
        return len(targets)

    def forward_loss(
        self, net: nn.Module, criterion: nn.Module, x: torch.Tensor, targets: Targets
    ) -> Forward:
        """The detector's losses on the batch: (their sum, None, the parts by name)."""
        losses = net(list(x), model_targets(targets))
        total = criterion(losses)
        return total, None, {part_name(k): v.detach() for k, v in losses.items()}

    def eval_step(
        self, model: nn.Module, criterion: nn.Module, x: torch.Tensor, targets: Targets
    ) -> tuple[torch.Tensor, Any]:
        """The validation loss (see the module docstring) and the eval-mode detections."""
        images = list(x)
        with loss_mode(model, x.device):
            loss = criterion(model(images, model_targets(targets)))
        return loss, from_model(model(images))
