"""One micro-batch forward/backward and the optimizer step (autocast, GradScaler, `no_sync`)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tui_trainer.engine.clip import GradClipper
from tui_trainer.engine.device import autocast
from tui_trainer.engine.faults import is_oom
from tui_trainer.engine.speed import CompiledNet
from tui_trainer.engine.tasks.base import Forward, Targets, Task


class Stepper:
    """Runs the micro-batches of an accumulation window and steps the optimizer.

    `net` is what training calls (the DDP wrapper in a multi-process run; the trainer swaps it
    when it re-wraps after unfreezing).
    """

    def __init__(
        self,
        net: nn.Module,
        criterion: nn.Module,
        task: Task,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        device: torch.device,
        precision: str,
        clipper: GradClipper | None = None,
    ) -> None:
        self.net = net
        self.criterion = criterion
        self.task = task  # how a batch becomes a loss (`Task.forward_loss`)
        self.optimizer = optimizer
        self.scaler = scaler
        self.device = device
        self.precision = precision
        self.clipper = clipper
        # The last step's pre-clip gradient norm, a device tensor (read only when emitting).
        self.grad_norm: torch.Tensor | None = None
        # GradScaler's scale after the last step, read once per fp16 step (see `step`).
        self._scale: float | None = None

    def backward(
        self, x: torch.Tensor, y: Targets, weight: float, *, defer_sync: bool
    ) -> Forward | None:
        """Forward and backward one micro-batch; (loss, outputs, loss parts), or None when out
        of memory.

        `weight` (the micro-batch's share of the window's samples) scales the loss so the
        window's summed gradient equals the gradient of its mean loss; DDP then averages the
        ranks' equal-sized windows. `defer_sync` skips DDP's all-reduce (not the window's last).
        The out-of-memory error is dropped here, outside its except block, so memory is freed.
        """

        def forward_backward() -> Forward:
            # a new context each call: a compiled step that falls back runs this twice
            with _no_sync(self.net) if defer_sync else contextlib.nullcontext():
                with autocast(self.device, self.precision):
                    loss, outputs, parts = self.task.forward_loss(self.net, self.criterion, x, y)
                scaled = loss if weight == 1.0 else loss * weight  # x * 1.0 == x exactly
                self.scaler.scale(scaled).backward()
            return loss, outputs, parts

        out_of_memory = False
        try:
            if isinstance(self.net, CompiledNet):  # the first compiled step may fall back
                result = self.net.guarded(forward_backward, self.discard)
            else:
                result = forward_backward()
        except Exception as exc:
            if not is_oom(exc):
                raise
            out_of_memory = True
        if out_of_memory:
            return None
        return result

    def step(self) -> bool:
        """Step the optimizer and clear the gradients; True when GradScaler skipped the step.

        GradScaler skips a step whose gradients overflowed and lowers its scale, so a scale
        that dropped is a skipped step (`step` itself already synced to find that out). The
        scale is read once per step: only `update` changes it, so the last step's reading is
        this step's "before" (the scaler's state is restored before the Stepper is made).
        """
        skipped = False
        if self.clipper is not None and self.clipper.enabled:  # unscales first under fp16
            self.grad_norm = self.clipper(self.optimizer, self.scaler)
        if self.scaler.is_enabled():
            before = self.scaler.get_scale() if self._scale is None else self._scale
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self._scale = self.scaler.get_scale()
            skipped = self._scale < before
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return skipped

    def grad_norm_now(self) -> float | None:
        """The last step's pre-clip gradient norm (a host sync: only when emitting progress)."""
        return None if self.grad_norm is None else float(self.grad_norm)

    def discard(self, *, free_cache: bool = False) -> None:
        """Drop the window's gradients; `free_cache` also empties CUDA's cache (after an OOM)."""
        self.optimizer.zero_grad(set_to_none=True)
        if free_cache and self.device.type == "cuda":
            torch.cuda.empty_cache()


def _no_sync(net: nn.Module) -> contextlib.AbstractContextManager[None]:
    """DDP's `no_sync` (directly or through CompiledNet): this backward skips the all-reduce."""
    if isinstance(net, (CompiledNet, DistributedDataParallel)):
        return net.no_sync()
    raise TypeError(f"{type(net).__name__} has no no_sync: only a DDP network defers its sync")
