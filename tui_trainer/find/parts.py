"""The preset's real training pieces for a finder, built as `session.prepare` builds a run.

`prepare` builds the data, the model (toggles such as channels_last applied), the task, the
optimizer and the Stepper exactly as a run would; nothing is written and no run directory is
made. A finder never trains these originals: `TrainParts.copy` gives it deep copies (model,
optimizer and GradScaler together, so the copied optimizer holds the copied parameters).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.build import shard, wrap
from tui_trainer.engine.clip import GradClipper
from tui_trainer.engine.device import resolve_runtime
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.loop import Trainer
from tui_trainer.engine.step import Stepper
from tui_trainer.run_checks import distributed_notes
from tui_trainer.runlog.control import Control

Batch = tuple[torch.Tensor, Any, Any, int]
"""(inputs, loss targets, hard labels, samples) of one training micro-batch, on the device."""


@dataclass(frozen=True)
class TrainingCopy:
    """Deep copies of the run's model, optimizer and GradScaler, and the Stepper over them."""

    model: nn.Module  # the bare module (its BatchNorm layers, its weights)
    stepper: Stepper  # trains `model` (through DDP / torch.compile as the run would)


@dataclass
class TrainParts:
    """The run's trainer as `session.prepare` made it (its model and optimizer untouched)."""

    trainer: Trainer
    dist: DistContext
    notes: list[str]  # fallbacks made while resolving (fp16 → fp32 on CPU)

    @property
    def config(self) -> RunConfig:
        """The resolved config the pieces were built from."""
        return self.trainer.config

    @property
    def device(self) -> torch.device:
        """Where the model trains."""
        return self.trainer.device

    def copy(self) -> TrainingCopy:
        """A Stepper over deep copies of the model, optimizer and GradScaler (the run's own
        objects are never trained); DDP-wrapped and compiled as the run would be."""
        t = self.trainer
        model, optimizer, scaler = copy.deepcopy((t.model, t.optimizer, t.scaler))
        net = t.toggles.training_net(wrap(model, self.dist, t.device))
        stepper = Stepper(
            net,
            t.stepper.criterion,
            t.task,
            optimizer,
            scaler,
            t.device,
            t.config.precision,
            GradClipper(t.config.optim),
        )
        return TrainingCopy(model, stepper)

    def batches(self, batch_size: int) -> Generator[Batch, None, None]:
        """Training batches at `batch_size`, epoch after epoch, endlessly: (inputs, targets,
        labels, samples), on the device, mixed and laid out as the run's loop does."""
        t = self.trainer
        loader = shard(t.data.make_train(batch_size), self.dist, pad=True)
        epoch = 0
        while True:
            loader.set_epoch(epoch)
            for x, y in loader.iterate(0):
                x = x.to(t.device, non_blocking=True)
                y = t.task.to_device(y, t.device)
                n = t.task.count(y)
                x, targets, labels = t.toggles.prepare_batch(x, y)
                yield x, targets, labels, n
            epoch += 1

    def close(self) -> None:
        """Stop the data's loader workers."""
        self.trainer.data.close()


def prepare_parts(config: RunConfig, preset: str, dist: DistContext = SINGLE) -> TrainParts:
    """Build the preset's data, model, optimizer and task (UserError for bad input).

    In a multi-process run (torchrun) this starts the process group; the caller stops it.
    """
    from tui_trainer.session import prepare

    config, device, notes = resolve_runtime(config)
    if dist.enabled:
        device = dist.device(device)
        config, _ = distributed_notes(config, dist)
        dist = dist.start(config.backend, device, config.dist_timeout)
    # `prepare` checks that the runs root could take a run directory; a finder makes none,
    # so it names one that always can (nothing is written there either).
    run = prepare(
        config,
        preset,
        control=Control(),
        out=tempfile.gettempdir(),
        dist=dist,
        device=device,
        notes=(notes, []),
    )
    return TrainParts(run.trainer, dist, notes)
