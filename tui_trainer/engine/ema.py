"""An exponential moving average (EMA) of a model's weights.

After every optimizer step each floating-point parameter and buffer e of the EMA copy moves
toward the live value w: e ← d·e + (1 − d)·w, with d = decay·(1 − exp(−t / warmup_steps)) at
update t (1-based; without warm-up d = decay). The warm-up lets the EMA forget the random
initial weights quickly in short runs. Integer buffers (BatchNorm's num_batches_tracked) are
copied. The EMA copy is a plain module in eval mode; validation and best.pt use it.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from tui_trainer.config.schema import EmaConfig


class ModelEma:
    """The EMA weights of `model`, updated with `update(model)` after each optimizer step."""

    def __init__(self, model: nn.Module, config: EmaConfig) -> None:
        self.decay = float(config.decay)
        self.warmup_steps = int(config.warmup_steps)
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.updates = 0

    def decay_at(self, update: int) -> float:
        """The decay used at update number `update` (1-based)."""
        if self.warmup_steps <= 0:
            return self.decay
        return self.decay * (1.0 - math.exp(-update / self.warmup_steps))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the EMA one step toward `model`'s current weights (no host sync)."""
        self.updates += 1
        weight = 1.0 - self.decay_at(self.updates)
        ema_f: list[torch.Tensor] = []
        live_f: list[torch.Tensor] = []
        live = model.state_dict()
        for key, e in self.module.state_dict().items():
            w = live[key]
            if e.is_floating_point():
                ema_f.append(e)
                live_f.append(w.detach().to(e.dtype))
            else:
                e.copy_(w)
        if ema_f:
            torch._foreach_lerp_(ema_f, live_f, weight)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the EMA weights and the update count (for the warm-up)."""
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()` exactly."""
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
