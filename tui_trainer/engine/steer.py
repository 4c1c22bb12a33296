"""Steering a run at optimizer-step boundaries: check, apply, record (see `config.steering`).

Changes come from two places and meet here: the config's `steering:` list (a preset's
scheduled changes, or the recorded ones of a run being replayed) applies when the run reaches
each entry's step (`at_step`, on every rank alike), and live requests (ctl, the run screen's
keys) arrive through `Control` and the control polling (`apply_live`, broadcast to every rank
by `ControlLink`). A live change that takes effect is inserted into `config.steering` at the
step it took effect, and config.yaml is rewritten (`ConfigChanged`), so `replay` applies it at
the same step; a checkpoint holds how many entries are done (`state`), so `--resume` neither
repeats nor loses one.

A change that cannot apply (nothing frozen, epochs below the epoch in progress, a finished
run) is refused with a one-line reason and changes nothing: `check` answers the requester at
once, and the same check runs again at the boundary (the run may have moved on meanwhile).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui_trainer.config.steering import BadChange, Change, SteerEntry, parse_change
from tui_trainer.engine.events import ConfigChanged, LogMessage, LRPlan, Steered
from tui_trainer.engine.freeze import frozen_batchnorm_modules

if TYPE_CHECKING:
    from tui_trainer.engine.loop import Trainer


MAX_LR = 3.4e38
"""Largest LR accepted: optimizers keep it in float32 on the device."""


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Steerer:
    """The trainer's steering: a position (set at each boundary) and the changes done so far."""

    def __init__(self, trainer: Trainer, resume: dict[str, Any] | None = None) -> None:
        self.t = trainer
        self.applied = 0  # entries of config.steering already handled (applied or refused)
        self.progress = 0.0  # epoch progress of the next optimizer step
        self.finished = False
        state = (resume or {}).get("steer") or {}
        self.applied = int(state.get("applied", 0))
        if state.get("unfrozen_epoch") is not None:  # before the plan sets requires_grad
            trainer.plan.unfreeze_now(int(state["unfrozen_epoch"]))

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (the LR changes live in the schedule's state)."""
        return {"applied": self.applied, "unfrozen_epoch": self.t.plan.steered}

    # -- checks (any thread) -----------------------------------------------------------------------
    def check(self, change: Change) -> str | None:
        """Why `change` cannot apply now (one line), or None."""
        t = self.t
        if self.finished:
            return "the run has finished"
        if change.kind == "lr":
            here = t.schedule.lr_at(self.progress)
            if not change.relative and here <= 0:
                return "the schedule's LR is 0 here, so it cannot be scaled to a value; use lr=*F"
            new = here * float(change.value or 1) if change.relative else float(change.value or 0)
            if not new <= MAX_LR:
                return f"an LR of {new:.3g} is beyond what float32 holds ({MAX_LR:.3g})"
            return None
        if change.kind == "unfreeze":
            if not t.plan.names:
                return "nothing is frozen (freeze.enabled is false)"
            if not t.plan.frozen_at(t.epoch):
                return "the frozen parameters are already training"
            return None
        if change.kind == "epochs":
            current = t.progress.epoch + 1
            if int(change.value or 0) < current:
                return f"epochs={change.value} is below the epoch in progress ({current})"
            if change.value == t.schedule.epochs:
                return f"the run already has {change.value} epochs"
        return None

    # -- at a step boundary (training thread, every rank) -----------------------------------------
    def at_step(self, progress: float) -> None:
        """Note the boundary's position; apply the scheduled entries due at this step."""
        self.progress = progress
        entries = self.t.config.steering
        step = self.t.progress.global_step
        while self.applied < len(entries) and entries[self.applied].step <= step:
            entry = entries[self.applied]
            self.applied += 1
            self._apply(parse_change(entry.change), "scheduled", entry.step)

    def apply_live(self, texts: list[str]) -> None:
        """Live changes (ControlLink's broadcast): apply each, record the ones that took."""
        for text in texts:
            try:
                change = parse_change(text)
            except BadChange as exc:  # the server validated it; never let one stop the run
                self._emit(LogMessage("warning", f"steering refused: {text}: {exc}"))
                continue
            if self._apply(change, "live", None):
                self._record(change)

    def _apply(self, change: Change, source: str, scheduled: int | None) -> bool:
        t = self.t
        step = t.progress.global_step
        reason = self.check(change)
        if reason:
            due = f" (scheduled for step {scheduled})" if scheduled is not None else ""
            self._emit(LogMessage("warning", f"step {step}: {change.text} refused{due}: {reason}"))
            return False
        old, new, metrics = self._do(change)
        what = change.kind
        self._emit(Steered(step, t.epoch + 1, change.text, what, old, new, source, metrics))
        if metrics:
            shown = ", ".join(f"{k} {_fmt(v)}" for k, v in metrics.items())
            line = f"step {step}: validation now: {shown}"
        elif what == "unfreeze":
            line = f"step {step}: unfreeze: the frozen parameters train from now on"
        else:
            line = f"step {step}: {what} {_fmt(old)} → {_fmt(new)}"
        self._emit(LogMessage("info", f"{line} ({source} {change.text})"))
        return True

    def _do(self, change: Change) -> tuple[Any, Any, dict[str, float]]:
        t, at = self.t, self.progress
        if change.kind == "lr":
            old = t.optimizer.param_groups[0]["lr"]
            factor = float(change.value or 1.0)
            if not change.relative:
                factor = factor / t.schedule.lr_at(at)
            t.schedule.scale_from(at, factor)
            self._emit(LRPlan(t.schedule.plan(), "steer"))
            return old, t.schedule.lr_at(at), {}
        if change.kind == "epochs":
            old = t.schedule.epochs
            t.schedule.set_epochs(at, int(change.value or old))
            self._emit(LRPlan(t.schedule.plan(), "steer"))
            return old, t.schedule.epochs, {}
        if change.kind == "unfreeze":
            t.plan.unfreeze_now(t.epoch)
            t._unfreeze(" from the next epoch")
            self._train_mode()
            return "frozen", "trainable", {}
        metrics = t.validate()
        self._train_mode()
        return None, None, {k: float(v) for k, v in metrics.items()}

    def _train_mode(self) -> None:
        """Back to training after a change mid-epoch (frozen BatchNorm stays in eval mode)."""
        self.t.stepper.net.train()
        for module in frozen_batchnorm_modules(self.t.model):
            module.eval()

    def _record(self, change: Change) -> None:
        """Insert a live change into config.steering where it took effect; config.yaml follows."""
        t = self.t
        step = t.progress.global_step
        entries = list(t.config.steering)
        entries.insert(self.applied, SteerEntry(step=step, change=change.text))
        self.applied += 1
        t.config = t.config.model_copy(update={"steering": entries})
        self._emit(
            ConfigChanged(t.config.model_dump(mode="json"), f"steering: step {step} {change.text}")
        )

    def _emit(self, event: Any) -> None:
        bus = getattr(self.t, "bus", None)
        if bus is not None:
            bus.emit(event)
