"""Checkpoint state of a trainer: what a checkpoint holds, and putting it back on resume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui_trainer.engine import checkpoint as ckpt
from tui_trainer.engine.progress import Progress
from tui_trainer.engine.resume_rules import apply_optim_hyperparams
from tui_trainer.errors import UserError

if TYPE_CHECKING:
    from tui_trainer.engine.loop import Trainer


def capture(t: Trainer, partial: dict[str, Any]) -> dict[str, Any]:
    """Everything a resume needs, as weights_only-loadable values.

    `partial` holds the partial-epoch sums (`EpochMeter.state`, or empty at an epoch end).
    """
    return {
        "format": ckpt.FORMAT,
        "version": ckpt.FORMAT_VERSION,
        "model": t.model.state_dict(),
        "optimizer": t.optimizer.state_dict(),
        "scaler": t.scaler.state_dict() if t.scaler.is_enabled() else {},
        "schedule": t.schedule.state_dict(),
        "steer": t.steering.state(),
        "progress": {**t.progress.state(), **partial},
        "phase": t.plan.phase(t.epoch),
        "world_size": t.dist.world_size,
        "batch_size": t.batch_size(),
        "skipped_steps": int(t.skipped_steps),
        "rng": ckpt.rng_state(),
        "config": t.config.model_dump(mode="json"),
        "class_names": t.data.class_names,
        **t.toggles.state(),  # EMA weights
    }


def restore(t: Trainer, state: dict[str, Any]) -> list[str]:
    """Load a checkpoint into a freshly built trainer; returns notes for the log.

    A mid-epoch position saved with another process count or batch size is kept in samples.
    """
    ckpt.check_architecture(t.model, state)
    t.model.load_state_dict(state.get("live_model", state["model"]))  # best.pt under EMA
    ema_note = t.toggles.load_state(state)
    try:
        t.optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError) as exc:  # check_resumable names the usual causes first
        raise UserError(
            f"--resume: the optimizer state in '{state.get('path')}' does not fit this "
            f"config's optimizer or freeze plan ({exc})"
        ) from None
    apply_optim_hyperparams(t.optimizer, t.config)
    if state.get("scaler"):
        t.scaler.load_state_dict(state["scaler"])
    t.schedule.load_state_dict(state["schedule"])
    t.progress = Progress.from_state(state["progress"])
    t.meter.load_state(state["progress"])
    saved = (int(state.get("world_size", 1)), int(state.get("batch_size", t.batch_size())))
    now = (t.dist.world_size, t.batch_size())
    t.progress.batch, repeated = ckpt.convert_position(t.progress.batch, saved, now)
    t.skipped_steps = int(state.get("skipped_steps", 0))
    ckpt.restore_rng_state(state["rng"])
    t.resumed_from = str(state.get("path"))
    notes = [note for note in (state.get("note"), ema_note) if note]  # a newer checkpoint ...
    if not repeated:
        return notes
    return [
        *notes,
        f"resumed with {now[0]} process(es) × batch {now[1]} instead of {saved[0]} × "
        f"{saved[1]}: {repeated} sample(s) of this epoch repeat",
    ]


def message(t: Trainer) -> str:
    """The log line that says what a resume restored and where it continues."""
    p = t.progress
    best = (
        f", best {t.monitor} {p.best_value:.4f} (epoch {p.best_epoch})"
        if p.best_value is not None
        else ""
    )
    restored = "model, optimizer, LR schedule, RNG states" + (
        ", GradScaler" if t.scaler.is_enabled() else ""
    )
    return (
        f"resumed from {t.resumed_from}: {restored}; epoch {p.epoch + 1}/"
        f"{t.schedule.epochs} at batch {p.batch}, step {p.global_step}, phase "
        f"{t.plan.phase(t.epoch)}{best}, {len(p.history)} epoch(s) of history"
    )
