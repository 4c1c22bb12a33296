"""Freezing: the backbone (everything but the head) or parameters matching glob patterns.

Frozen parameters get `requires_grad=False` and stay out of the optimizer until they are
unfrozen; BatchNorm layers whose parameters are all frozen stay in eval mode so their running
statistics do not drift either.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import nn

from tui_trainer.config.schema import FreezeConfig
from tui_trainer.errors import UserError


def frozen_names(model: nn.Module, cfg: FreezeConfig, head: str, backbone: str = "") -> list[str]:
    """Names of the parameters that the freeze config freezes: `freeze.patterns`, else the
    `backbone` module's (a detector's), else everything but the `head`.

    Raises UserError (before training, nothing written) when the patterns match nothing, or
    when the choice would freeze every parameter: the frozen phase would train nothing.
    """
    names = [name for name, _ in model.named_parameters()]
    if cfg.patterns:
        chosen = [n for n in names if any(fnmatchcase(n, p) for p in cfg.patterns)]
        if not chosen:
            raise UserError(
                f"{cfg.patterns} match no parameter (e.g. '{names[0]}')",
                key="freeze.patterns",
            )
        key = "freeze.patterns"
    elif backbone:
        prefix = f"{backbone}."
        chosen = [n for n in names if n.startswith(prefix)]
        key = "freeze.enabled"
    else:
        if not head:
            raise UserError(
                "the model has no Linear head; set freeze.patterns", key="freeze.enabled"
            )
        prefix = f"{head}."
        chosen = [n for n in names if not n.startswith(prefix)]
        key = "freeze.enabled"
    if names and len(chosen) == len(names):
        what = f"{cfg.patterns} match" if cfg.patterns else "freezing all but the head matches"
        raise UserError(
            f"{what} all {len(names)} parameters, so nothing would train; leave some "
            f"unfrozen (e.g. the head '{names[-1]}')",
            key=key,
        )
    return chosen


def set_frozen(model: nn.Module, names: list[str], frozen: bool) -> None:
    """Freeze (or unfreeze) the named parameters."""
    wanted = set(names)
    for name, param in model.named_parameters():
        if name in wanted:
            param.requires_grad_(not frozen)


def frozen_batchnorm_modules(model: nn.Module) -> list[nn.Module]:
    """BatchNorm layers whose parameters are all frozen (kept in eval mode while training)."""
    out: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                out.append(module)
    return out


class FreezePlan:
    """Which parameters are frozen in which epoch; the phase is derived from the epoch.

    Without `freeze.epochs` the frozen parameters stay frozen all run (one optimizer group);
    with it they join the optimizer as their own group at unfreeze time (a resume after that
    point finds the group already filled). Steering may unfreeze them mid-epoch (`steered`:
    that epoch); the epoch keeps its frozen-phase batch size, the next ones take the main one.
    """

    def __init__(self, model: nn.Module, cfg: FreezeConfig, head: str, backbone: str = "") -> None:
        self.names = frozen_names(model, cfg, head, backbone) if cfg.enabled else []
        self.until = cfg.epochs
        self.steered: int | None = None  # the epoch in which steering unfroze them

    def frozen_at(self, epoch: int) -> bool:
        """Whether the frozen parameters are frozen in `epoch` (0-based)."""
        if self.steered is not None and epoch >= self.steered:
            return False
        return bool(self.names) and (self.until is None or epoch < self.until)

    def unfreeze_now(self, epoch: int) -> None:
        """Steering: the frozen parameters train from now on (during 0-based `epoch`)."""
        self.steered = epoch

    def state_dict(self) -> dict[str, Any]:
        """The steered unfreeze (a checkpoint keeps it under "steer")."""
        return {"unfrozen_epoch": self.steered}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a steered unfreeze (before `apply` and the optimizer's groups)."""
        saved = state.get("unfrozen_epoch")
        self.steered = int(saved) if saved is not None else None

    def phase(self, epoch: int) -> str:
        """ "frozen" or "full"."""
        return "frozen" if self.frozen_at(epoch) else "full"

    def batch_size(self, data_batch: int, freeze_batch: int | None, epoch: int) -> int:
        """The per-process micro-batch size in `epoch`."""
        frozen_phase = self.frozen_at(epoch) or epoch == self.steered
        return (freeze_batch or data_batch) if frozen_phase else data_batch

    def late_params(self, model: nn.Module) -> list[nn.Parameter]:
        """The parameters that join the optimizer at unfreeze time."""
        wanted = set(self.names)
        return [p for n, p in model.named_parameters() if n in wanted]

    def param_groups(self, model: nn.Module, epoch: int) -> list[list[nn.Parameter]]:
        """The optimizer's parameter groups for a run that starts at `epoch`."""
        params = dict(model.named_parameters())
        if not self.names:
            return [list(params.values())]
        wanted = set(self.names)
        base = [p for n, p in params.items() if n not in wanted]
        if self.until is None and self.steered is None:
            return [base]
        return [base, [] if self.frozen_at(epoch) else self.late_params(model)]

    def join_optimizer(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
        """Unfreezing: the late parameters fill the optimizer's second group (added when the run
        had one group: frozen all run until steering unfroze them); how many numbers joined."""
        late = self.late_params(model)
        if len(optimizer.param_groups) < 2:
            optimizer.add_param_group({"params": late})
        else:
            optimizer.param_groups[1]["params"] = late
        return sum(p.numel() for p in late)

    def apply(self, model: nn.Module, epoch: int) -> None:
        """Set requires_grad for the phase of `epoch`."""
        set_frozen(model, self.names, self.frozen_at(epoch))

    def unfreezes_at(self, model: nn.Module, epoch: int) -> bool:
        """Whether `epoch` starts with frozen parameters that must now train."""
        return (
            bool(self.names)
            and not self.frozen_at(epoch)
            and any(not p.requires_grad for p in self.late_params(model))
        )
