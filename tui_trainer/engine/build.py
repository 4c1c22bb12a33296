"""Set-up pieces of a run: the optimizer, DDP wrapping and data sharding."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tui_trainer.config.schema import OptimConfig
from tui_trainer.engine.distributed import DistContext


def make_optimizer(o: OptimConfig, groups: list[list[nn.Parameter]]) -> torch.optim.Optimizer:
    """The configured optimizer over parameter groups (empty groups are kept, for resume)."""
    param_groups = [{"params": g} for g in groups]
    if o.name == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=o.lr,
            momentum=o.momentum,
            weight_decay=o.weight_decay,
            nesterov=o.nesterov and o.momentum > 0,
        )
    cls = torch.optim.Adam if o.name == "adam" else torch.optim.AdamW
    return cls(param_groups, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)


def wrap(model: nn.Module, dist: DistContext, device: torch.device) -> nn.Module:
    """What training steps call: `model` itself, or DDP around it in a multi-process run.

    Wrap again after unfreezing: DDP only syncs the parameters that required grad when built.
    """
    if not dist.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard(loader: Any, dist: DistContext, *, pad: bool) -> Any:
    """This rank's share of `loader` (the loader itself in a single-process run).

    Raises NotImplementedError for a loader that cannot be split between processes.
    """
    if not dist.enabled:
        return loader
    split = getattr(loader, "shard", None)
    if split is None:
        raise NotImplementedError(f"{type(loader).__name__} cannot be sharded across processes")
    return split(dist.rank, dist.world_size, pad=pad)
