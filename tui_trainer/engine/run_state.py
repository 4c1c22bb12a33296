"""A run's checkpoint contents: composed from its stateful pieces, handed back to them on resume.

Each piece owns its `state_dict` / `load_state_dict` (`stateful.Stateful`); this module only
knows the layout: which key holds which piece ("progress" holds the position and the meter's
partial-epoch sums, "ema" and "skipped_steps" sit at the top level), and the order a resume
puts them back in. The layout is `checkpoint.FORMAT_VERSION` 1: checkpoints written before
the pieces owned their state load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tui_trainer.engine import checkpoint as ckpt
from tui_trainer.engine.distributed import DistContext
from tui_trainer.engine.freeze import FreezePlan
from tui_trainer.engine.lr_schedule import LRSchedule
from tui_trainer.engine.meter import EpochMeter
from tui_trainer.engine.progress import Progress
from tui_trainer.engine.resume_rules import apply_optim_hyperparams
from tui_trainer.engine.stateful import CurrentConfig, ScalerState, Stateful, StepCounts
from tui_trainer.engine.toggles import Toggles
from tui_trainer.errors import UserError


@dataclass
class RunParts:
    """The stateful pieces of one run, named by the checkpoint key that holds each."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: ScalerState
    schedule: LRSchedule
    steer: Stateful
    progress: Progress
    meter: EpochMeter
    plan: FreezePlan
    counts: StepCounts
    rng: Stateful
    toggles: Toggles  # "ema"
    config: CurrentConfig
    dist: DistContext
    class_names: list[str]
    split: Stateful | None = None  # "time_split": seconds per part of the step (TimeSplit)


def capture(
    parts: RunParts, partial: dict[str, Any], *, epoch: int, batch_size: int
) -> dict[str, Any]:
    """Everything a resume needs, as weights_only-loadable values.

    `partial` holds the partial-epoch sums (`EpochMeter.state_dict`, a collective the caller
    takes on every rank; empty at an epoch end). `epoch` is the epoch in hand and `batch_size`
    its per-process micro-batch.
    """
    return {
        "format": ckpt.FORMAT,
        "version": ckpt.FORMAT_VERSION,
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "schedule": parts.schedule.state_dict(),
        "steer": parts.steer.state_dict(),  # brings config.yaml up to date first
        "progress": {**parts.progress.state_dict(), **partial},
        "phase": parts.plan.phase(epoch),
        "world_size": parts.dist.world_size,
        "batch_size": batch_size,
        **parts.counts.state_dict(),  # "skipped_steps"
        "rng": parts.rng.state_dict(),
        "config": parts.config.value.model_dump(mode="json"),
        "class_names": parts.class_names,
        **parts.toggles.state_dict(),  # EMA weights
        **({"time_split": parts.split.state_dict()} if parts.split is not None else {}),
    }


def restore_position(progress: Stateful, steer: Stateful, state: dict[str, Any]) -> None:
    """The first part of a resume, before the model's phase and the optimizer are set up:
    where the run is, and the steering done (a steered unfreeze decides the param groups)."""
    progress.load_state_dict(state["progress"])
    steer.load_state_dict(state.get("steer") or {})


def restore(parts: RunParts, state: dict[str, Any], *, batch_size: int) -> list[str]:
    """The rest of a resume (after `restore_position`): every piece loads its part; returns
    notes for the log. `batch_size` is the epoch's micro-batch now.

    A mid-epoch position saved with another process count or batch size is kept in samples.
    """
    ckpt.check_architecture(parts.model, state)
    parts.model.load_state_dict(state.get("live_model", state["model"]))  # best.pt under EMA
    ema_note = parts.toggles.load_state_dict(state)
    try:
        parts.optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError) as exc:  # check_resumable names the usual causes first
        raise UserError(
            f"--resume: the optimizer state in '{state.get('path')}' does not fit this "
            f"config's optimizer or freeze plan ({exc})"
        ) from None
    apply_optim_hyperparams(parts.optimizer, parts.config.value)
    parts.scaler.load_state_dict(state.get("scaler") or {})
    parts.schedule.load_state_dict(state["schedule"])
    parts.meter.load_state_dict(state["progress"])
    saved = (int(state.get("world_size", 1)), int(state.get("batch_size", batch_size)))
    now = (parts.dist.world_size, batch_size)
    p = parts.progress
    p.batch, repeated = ckpt.convert_position(p.batch, saved, now)
    parts.counts.load_state_dict(state)
    parts.rng.load_state_dict(state["rng"])
    if parts.split is not None:  # absent from a checkpoint written before it was kept
        parts.split.load_state_dict(state.get("time_split") or {})
    notes = [note for note in (state.get("note"), ema_note) if note]  # a newer checkpoint ...
    if not repeated:
        return notes
    return [
        *notes,
        f"resumed with {now[0]} process(es) × batch {now[1]} instead of {saved[0]} × "
        f"{saved[1]}: {repeated} sample(s) of this epoch repeat",
    ]


def message(parts: RunParts, resumed_from: str, *, monitor: str, epoch: int) -> str:
    """The log line that says what a resume restored and where it continues."""
    p = parts.progress
    best = (
        f", best {monitor} {p.best_value:.4f} (epoch {p.best_epoch})"
        if p.best_value is not None
        else ""
    )
    restored = "model, optimizer, LR schedule, RNG states" + (
        ", GradScaler" if parts.scaler.scaler.is_enabled() else ""
    )
    return (
        f"resumed from {resumed_from}: {restored}; epoch {p.epoch + 1}/"
        f"{parts.schedule.epochs} at batch {p.batch}, step {p.global_step}, phase "
        f"{parts.plan.phase(epoch)}{best}, {len(p.history)} epoch(s) of history"
    )
