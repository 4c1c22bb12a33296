"""One validation pass: the mean loss and the task's metrics over the validation data."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from tui_trainer.engine.device import autocast

if TYPE_CHECKING:
    from tui_trainer.engine.data.bundle import Loader
    from tui_trainer.engine.pictures.shots import Collector
    from tui_trainer.engine.reporting import ValidationReporter
    from tui_trainer.engine.tasks import Evaluator, Task


@torch.inference_mode()
def validate(
    model: nn.Module,
    loader: Loader,
    evaluator: Evaluator,
    criterion: nn.Module,
    task: Task,
    *,
    device: torch.device,
    precision: str,
    eval_batch: Callable[[torch.Tensor], torch.Tensor],
    reduce: Callable[[list[float]], list[float]] | None = None,
    collector: Collector | None = None,
    progress: ValidationReporter | None = None,
) -> dict[str, float]:
    """`model` (already the weights to evaluate) over `loader` in eval mode: "val_loss" and
    `evaluator`'s metrics. `task` runs each batch (`Task.eval_step`); `reduce` sums the loss and
    count over the ranks (sharded data); `collector` sees every batch's input, targets and
    outputs (pictures; no extra forward pass); `progress` is told each batch done and the end
    of the loop (throttled `ValidationProgress` events, never a device sync)."""
    model.eval()
    evaluator.reset()
    loss_sum = torch.zeros((), device=device)
    seen = 0
    loader.set_epoch(0)
    batch = 0
    for batch, (x, y) in enumerate(loader.iterate(0), 1):
        x = eval_batch(x.to(device, non_blocking=True))
        y = task.to_device(y, device)
        with autocast(device, precision):
            loss, outputs = task.eval_step(model, criterion, x, y)
        n = task.count(y)
        loss_sum += loss.float() * n
        seen += n
        evaluator.update(outputs, y)
        if collector is not None:
            collector.update(x, y, outputs)
        if progress is not None:
            progress(batch)
    if progress is not None:
        progress.done(batch)
    total, count = float(loss_sum), float(seen)
    if reduce is not None:
        total, count = reduce([total, count])
    return {"val_loss": total / max(count, 1), **evaluator.compute()}
