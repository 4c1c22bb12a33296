"""What the trainer asks of a task (`Task`), of its validation evaluator (`Evaluator`), and a
task's row in the engine's registry (`EngineTask`: the Task and its data sources).

The task owns its batches: how targets reach the device, how many samples a batch holds, how a
forward pass becomes a loss (`forward_loss`) and validation outputs (`eval_step`). Tasks whose
targets are one tensor and whose loss is `criterion(model(x), y)` (classification,
segmentation) inherit all of that from `TensorTask`; detection's targets are a list of box
dicts and its model returns its own losses.

The task packages implement these; the registry (`engine.tasks.ENGINE_TASKS`) holds the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from tui_trainer.engine.distributed import SINGLE, DistContext

if TYPE_CHECKING:
    from tui_trainer.config.schema import RunConfig
    from tui_trainer.engine.data.bundle import DataBundle

DataBuilder = Callable[["RunConfig", torch.device, "int | None"], "DataBundle"]
"""(config, device, model_channels) -> the run's data; raises UserError for bad data."""


Targets = Any
"""A batch's targets: a tensor (class ids, masks) or a task's own structure (box dicts)."""

Forward = tuple[torch.Tensor, Any, "dict[str, torch.Tensor] | None"]
"""(loss, outputs, loss parts): `forward_loss`'s result; parts are named device scalars."""


class Evaluator(Protocol):
    """Accumulates validation metrics on the device; syncs once in `compute`."""

    def reset(self) -> None: ...
    def update(self, outputs: Any, targets: Any) -> None: ...
    def compute(self) -> dict[str, float]: ...
    def report(self, class_names: list[str]) -> str: ...
    def details(self, class_names: list[str]) -> dict[str, Any]:
        """The last pass's per-class results as plain values (for eval.json)."""
        ...


class Task(Protocol):
    """The task-specific parts of a run."""

    train_metric: str  # the name of the running training metric in epoch lines ("": none)

    def loss(self) -> nn.Module: ...
    def evaluator(
        self, num_classes: int, device: torch.device, dist: DistContext = SINGLE
    ) -> Evaluator: ...
    def train_hits(self, outputs: Any, targets: Targets) -> tuple[torch.Tensor, int]:
        """(hits as a device tensor, count) for the running training metric; no host sync."""
        ...

    def to_device(self, targets: Targets, device: torch.device) -> Targets:
        """A batch's targets on `device` (non-blocking where the memory is pinned)."""
        ...

    def count(self, targets: Targets) -> int:
        """The samples in a batch."""
        ...

    def forward_loss(
        self, net: nn.Module, criterion: nn.Module, x: torch.Tensor, targets: Targets
    ) -> Forward:
        """A training forward pass (under the caller's autocast): (loss, outputs, parts)."""
        ...

    def eval_step(
        self, model: nn.Module, criterion: nn.Module, x: torch.Tensor, targets: Targets
    ) -> tuple[torch.Tensor, Any]:
        """A validation forward pass of the model in eval mode: (loss, outputs for the
        evaluator's `update`)."""
        ...


class TensorTask:
    """The batch handling of tasks whose targets are one tensor and whose loss is
    `criterion(model(x), targets)` (classification and segmentation)."""

    def to_device(self, targets: Targets, device: torch.device) -> Targets:
        """The targets tensor on `device`."""
        return targets.to(device, non_blocking=True)

    def count(self, targets: Targets) -> int:
        """The batch's first dimension."""
        return int(targets.shape[0])

    def forward_loss(
        self, net: nn.Module, criterion: nn.Module, x: torch.Tensor, targets: Targets
    ) -> Forward:
        """logits = net(x); the criterion's loss on them; no parts."""
        logits = net(x)
        return criterion(logits, targets), logits, None

    def eval_step(
        self, model: nn.Module, criterion: nn.Module, x: torch.Tensor, targets: Targets
    ) -> tuple[torch.Tensor, Any]:
        """The loss and the float32 logits (what the evaluators compare)."""
        logits = model(x).float()
        return criterion(logits, targets), logits


@dataclass(frozen=True)
class EngineTask:
    """One task's row in the engine's registry, keyed like `config.tasks.TASKS`."""

    make: Callable[[RunConfig], Task]  # the Task for a run's config
    datasets: Mapping[str, DataBuilder]  # data.name -> builder; the names of its `data` column
