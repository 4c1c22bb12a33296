"""What the trainer asks of a task (`Task`), of its validation evaluator (`Evaluator`), and a
task's row in the engine's registry (`EngineTask`: the Task and its data sources).

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


class Evaluator(Protocol):
    """Accumulates validation metrics on the device; syncs once in `compute`."""

    def reset(self) -> None: ...
    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None: ...
    def compute(self) -> dict[str, float]: ...
    def report(self, class_names: list[str]) -> str: ...
    def details(self, class_names: list[str]) -> dict[str, Any]:
        """The last pass's per-class results as plain values (for eval.json)."""
        ...


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


@dataclass(frozen=True)
class EngineTask:
    """One task's row in the engine's registry, keyed like `config.tasks.TASKS`."""

    make: Callable[[RunConfig], Task]  # the Task for a run's config
    datasets: Mapping[str, DataBuilder]  # data.name -> builder; the names of its `data` column
