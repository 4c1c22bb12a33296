"""One validation pass: the trainer's per-epoch validation and `tui-trainer eval` both run this.

Keeping a single implementation is what makes `eval` of `best.pt` on the run's own split
reproduce the run's best validation metric exactly: same loader, same autocast, same loss, same
evaluator, same order of batches.
"""

from __future__ import annotations

import torch
from torch import nn

from tui_trainer.engine.data.bundle import Loader
from tui_trainer.engine.device import autocast
from tui_trainer.engine.tasks import Evaluator


@torch.inference_mode()
def validation_pass(
    model: nn.Module,
    loader: Loader,
    criterion: nn.Module,
    evaluator: Evaluator,
    device: torch.device,
    precision: str,
) -> tuple[float, float]:
    """Run `model` (in eval mode) over `loader`, feeding `evaluator` (reset first).

    Returns (summed loss, samples) of this process; the caller reduces them over ranks and
    reads the task metrics from `evaluator.compute()`.
    """
    model.eval()
    evaluator.reset()
    loss_sum = torch.zeros((), device=device)
    seen = 0
    loader.set_epoch(0)
    for x, y in loader.iterate(0):
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with autocast(device, precision):
            logits = model(x)
            loss = criterion(logits.float(), y)
        loss_sum += loss.float() * y.shape[0]
        seen += y.shape[0]
        evaluator.update(logits.float(), y)
    return float(loss_sum), float(seen)
