"""Gradient clipping before the optimizer step (by total norm, or element-wise by value).

Under fp16 the GradScaler's gradients are scaled by the loss scale; clipping those would bound
the wrong quantity (the classic bug). `GradClipper` unscales them first (`scaler.unscale_`), so
the bound applies to the true gradients and `scaler.step` does not unscale twice.

The pre-clip total norm stays a device tensor: the loop turns it into a float only when it
emits a progress event, so clipping adds no host sync per step.
"""

from __future__ import annotations

import torch
from torch import nn

from tui_trainer.config.schema import OptimConfig


def total_norm(grads: list[torch.Tensor], norm_type: float) -> torch.Tensor:
    """The `norm_type`-norm of all gradients together, as a device tensor (no host sync)."""
    if not grads:
        return torch.zeros(())
    get_total_norm = getattr(nn.utils, "get_total_norm", None)
    if get_total_norm is not None:  # torch >= 2.6
        return get_total_norm(grads, norm_type)
    norms = torch.stack([torch.linalg.vector_norm(g.detach(), norm_type) for g in grads])
    return torch.linalg.vector_norm(norms, norm_type)


class GradClipper:
    """Clips gradients as `optim.clip_grad_norm` / `optim.clip_grad_value` ask (or does nothing)."""

    def __init__(self, config: OptimConfig) -> None:
        self.max_norm = config.clip_grad_norm
        self.max_value = config.clip_grad_value
        self.norm_type = float(config.clip_norm_type)

    @property
    def enabled(self) -> bool:
        """Whether any clipping is configured."""
        return self.max_norm is not None or self.max_value is not None

    def __call__(
        self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None
    ) -> torch.Tensor | None:
        """Clip the gradients of `optimizer`'s parameters; return the pre-clip total norm.

        Call it after the last backward of an accumulation window and before the step. With an
        enabled `scaler` the gradients are unscaled here first (once per step, as GradScaler
        requires); a window with inf/NaN gradients gives a non-finite norm and the scaler then
        skips the step as usual. Returns None when clipping is off.
        """
        if not self.enabled:
            return None
        if scaler is not None and scaler.is_enabled():
            scaler.unscale_(optimizer)
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.max_norm is not None:
            norm = nn.utils.clip_grad_norm_(
                params, self.max_norm, norm_type=self.norm_type, error_if_nonfinite=False
            )
            return norm.detach()
        norm = total_norm([p.grad for p in params], self.norm_type).detach()
        if self.max_value is not None:  # it is: clipping is enabled and max_norm is None
            nn.utils.clip_grad_value_(params, self.max_value)
        return norm
