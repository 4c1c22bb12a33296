"""Steering a run at optimizer-step boundaries: check, apply, record (see `config.steering`).

Changes come from two places and meet here: the config's `steering:` list (a preset's
scheduled changes, or the recorded ones of a run being replayed) applies when the run reaches
each entry's step (`at_step`, on every rank alike), and live requests (ctl, the run screen's
keys) arrive through `Control` and the control polling (`apply_live`, broadcast to every rank
by `ControlLink`). A live change that takes effect is inserted into `config.steering` at the
step it took effect, so `replay` applies it at the same step; a checkpoint holds how many
entries are done (`state`), so `--resume` neither repeats nor loses one.

An LR or length change is tried on a copy of the schedule first and committed only when the
result holds: the LR where it applies a normal float32 value, every point of the new plan
finite, non-negative and within float32. A change that cannot apply (that, nothing frozen,
epochs below the epoch in progress, a finished run) is refused with a one-line reason and
changes nothing: `check` answers the requester at once (against the state the changes already
queued will make), and the same check runs again at the boundary. A change to the value
already in force is `Unchanged`: not queued, not recorded, free.

config.yaml follows `config.steering` through `ConfigChanged`, batched (`flush`): at most one
write every `WRITE_EVERY` seconds (the changes of one boundary always go together), and always
before a checkpoint is captured (`state`) and at the end (`finish`), so what a checkpoint or a
replay reads is complete. A run that fails right after live changes (at the step that followed
their boundary) does not keep them.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from tui_trainer.config.steering import BadChange, Change, SteerEntry, parse_change
from tui_trainer.engine.freeze import FreezePlan
from tui_trainer.engine.lr_schedule import LRSchedule
from tui_trainer.engine.progress import Progress
from tui_trainer.engine.stateful import CurrentConfig
from tui_trainer.runlog.control import Control, Unchanged
from tui_trainer.runlog.events import ConfigChanged, LogMessage, LRPlan, Steered

MAX_LR = 3.4e38
"""Largest LR accepted: optimizers keep it in float32 on the device."""
MIN_LR = 1.2e-38
"""Smallest LR a steering change may set: float32's smallest normal number."""
WRITE_EVERY = 2.0
"""Seconds between two config.yaml rewrites for live steering (the latest state each time)."""


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plan_fault(plan: list[tuple[float, float]]) -> str | None:
    """Why an LR plan cannot be trained with (a point not finite, negative or beyond float32)."""
    for at, lr in plan:
        if not (math.isfinite(lr) and 0.0 <= lr <= MAX_LR):
            return f"the LR plan would reach {lr:.3g} at epoch {at:.3g}"
    return None


def try_lr(schedule: LRSchedule, change: Change, at: float) -> tuple[LRSchedule | None, str | None]:
    """`change` (lr or epochs) tried on a copy of `schedule` at progress `at`.

    Returns (the changed copy, None), or (None, the reason it cannot apply), or (None,
    `Unchanged`) for a change to the value already in force. Nothing raises: a result that is
    not finite, or not a normal float32 LR, or a plan that leaves float32, is a reason. An LR
    change checks the current plan's remainder times its factor (what the new plan holds there)
    instead of computing a new plan.
    """
    trial = schedule.copy()
    try:
        if change.kind == "epochs":
            epochs = int(change.value or 0)
            if epochs == schedule.epochs:
                return None, Unchanged(f"the run already has {epochs} epochs")
            trial.set_epochs(at, epochs)
            reason = plan_fault(trial.plan())
        else:
            factor, reason = _scale(trial, change, at)
            if not reason:
                ahead = [(x, lr * factor) for x, lr in schedule.plan() if x >= at]
                reason = plan_fault(ahead)
    except (ArithmeticError, ValueError) as exc:
        return None, f"the new LR plan cannot be computed ({exc})"
    return (None, reason) if reason else (trial, None)


def _scale(trial: LRSchedule, change: Change, at: float) -> tuple[float, str | None]:
    """Apply an lr change to `trial`: (its factor, None), or (0, the reason or `Unchanged`)."""
    here = trial.lr_at(at)
    value = float(change.value or 0.0)
    new = here * value if change.relative else value
    if new == here:
        return 0.0, Unchanged(f"the LR is already {here:.4g}")
    if not change.relative and not here > 0:
        return 0.0, "the schedule's LR is 0 here, so it cannot be scaled to a value; use lr=*F"
    factor = value if change.relative else value / here
    if not (math.isfinite(factor) and factor >= sys.float_info.min):
        return 0.0, f"the factor from the LR now ({here:.3g}) would be {factor:.3g}"
    if not MIN_LR <= new <= MAX_LR:
        return (
            0.0,
            f"an LR of {new:.3g} is beyond what float32 holds ({MIN_LR:.3g} to {MAX_LR:.3g})",
        )
    trial.scale_from(at, factor)
    got = trial.lr_at(at)
    if not (math.isfinite(got) and MIN_LR <= got <= MAX_LR):
        return 0.0, f"the LR would become {got:.3g}"
    return factor, None


class SteerHost(Protocol):
    """What steering asks of the loop that runs it (the Trainer): the epoch in hand, the LR in
    force, and the changes that need the model: unfreeze, a validation pass, train mode."""

    @property
    def epoch(self) -> int:
        """The 0-based epoch in hand."""
        ...

    def lr(self) -> float:
        """The LR the optimizer uses now."""
        ...

    def unfreeze(self, when: str = "") -> None:
        """The frozen parameters join training now (the plan already says so)."""
        ...

    def validate(self) -> dict[str, float]:
        """A validation pass: its metrics."""
        ...

    def train_mode(self) -> None:
        """Back to training mode (frozen BatchNorm stays in eval mode)."""
        ...


class Steerer:
    """The run's steering: a position (set at each boundary) and the changes done so far.

    It changes the pieces it is given (the schedule, the freeze plan, the current config) and
    asks `host` for the rest; `state_dict` / `load_state_dict` are a checkpoint's "steer".
    """

    def __init__(
        self,
        host: SteerHost,
        *,
        schedule: LRSchedule,
        position: Progress,
        plan: FreezePlan,
        config: CurrentConfig,
        control: Control,
    ) -> None:
        self.host, self.schedule, self.position, self.plan = host, schedule, position, plan
        self.config, self.control = config, control
        self.emit: Callable[[Any], None] | None = None  # the run's bus, once it runs
        self.applied = 0  # entries of config.steering already handled (applied or refused)
        self.progress = 0.0  # epoch progress of the next optimizer step
        self.finished = False
        self.notes: list[str] = []  # live entries not yet in config.yaml
        self.written = -math.inf  # monotonic time of the last config.yaml write for steering
        self.live: list[SteerEntry] = []  # live entries recorded at the latest such boundary
        self.replanned = False  # an lr or epochs change in the current batch

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps (the LR changes live in the schedule's state); config.yaml
        is brought up to date first, so it holds every entry the checkpoint counts."""
        self.flush()
        return {"applied": self.applied, **self.plan.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue after the entries a checkpoint counts; a steered unfreeze goes to the plan
        (call it before the plan sets requires_grad and the optimizer is built)."""
        self.applied = int(state.get("applied", 0))
        self.plan.load_state_dict(state)

    # -- checks (any thread) -----------------------------------------------------------------------
    def check(self, change: Change) -> str | None:
        """Why `change` cannot apply after the changes already queued (one line), an
        `Unchanged` when it would change nothing, or None."""
        if self.finished:
            return "the run has finished"
        pending = self.control.pending_steers()
        schedule, unfreezing, validating = self.schedule, False, False
        for text in pending:
            try:
                queued = parse_change(text)
            except BadChange:
                continue
            if queued.kind in ("lr", "epochs"):
                schedule = try_lr(schedule, queued, self.progress)[0] or schedule
            unfreezing |= queued.kind == "unfreeze"
            validating |= queued.kind == "validate"
        if change.kind == "unfreeze" and unfreezing:
            return Unchanged("an unfreeze is already waiting for the next step")
        if change.kind == "validate" and validating:
            return Unchanged("a validation pass is already waiting for the next step")
        return self._reason(change, schedule)[1]

    def _reason(self, change: Change, schedule: LRSchedule) -> tuple[LRSchedule | None, str | None]:
        """(the changed schedule for lr/epochs, the reason it cannot apply or `Unchanged`)."""
        if change.kind == "epochs":
            current = self.position.epoch + 1
            if int(change.value or 0) < current:
                return None, f"epochs={change.value} is below the epoch in progress ({current})"
        if change.kind in ("lr", "epochs"):
            return try_lr(schedule, change, self.progress)
        if change.kind == "unfreeze":
            if not self.plan.names:
                return None, "nothing is frozen (freeze.enabled is false)"
            if not self.plan.frozen_at(self.host.epoch):
                return None, "the frozen parameters are already training"
        return None, None

    # -- at a step boundary (training thread, every rank) -----------------------------------------
    def at_step(self, progress: float) -> None:
        """Note the boundary's position; apply the scheduled entries due at this step."""
        self.progress = progress
        entries = self.config.value.steering
        step = self.position.global_step
        if self.applied < len(entries) and entries[self.applied].step <= step:
            due: list[tuple[Change, int]] = []
            while self.applied < len(entries) and entries[self.applied].step <= step:
                entry = entries[self.applied]
                self.applied += 1
                due.append((parse_change(entry.change), entry.step))
            self._batch([(c, "scheduled", s) for c, s in due])
        if self.notes and time.monotonic() - self.written >= WRITE_EVERY:
            self.flush()

    def apply_live(self, texts: list[str]) -> None:
        """Live changes (ControlLink's broadcast, one boundary's batch): apply each in order,
        record the ones that took; config.yaml follows (batched)."""
        changes: list[tuple[Change, str, int | None]] = []
        for text in texts:
            try:
                changes.append((parse_change(text), "live", None))
            except BadChange as exc:  # the server validated it; never let one stop the run
                self._emit(LogMessage("warning", f"steering refused: {text}: {exc}"))
        self._batch(changes)
        if self.notes and time.monotonic() - self.written >= WRITE_EVERY:
            self.flush()

    def _batch(self, changes: list[tuple[Change, str, int | None]]) -> None:
        """Apply changes in order; one LRPlan for the batch when the plan changed."""
        self.replanned = False
        for change, source, scheduled in changes:
            if self._apply(change, source, scheduled) and source == "live":
                self._record(change)
        if self.replanned:
            self._emit(LRPlan(self.schedule.plan(), "steer"))

    def _apply(self, change: Change, source: str, scheduled: int | None) -> bool:
        """Check and apply one change; False when refused or unchanged. An lr or epochs
        change sets `replanned`."""
        step = self.position.global_step
        trial: LRSchedule | None
        reason: str | None
        if self.finished:
            trial, reason = None, "the run has finished"
        else:
            trial, reason = self._reason(change, self.schedule)
        if isinstance(reason, Unchanged):
            return False
        if reason:
            due = f" (scheduled for step {scheduled})" if scheduled is not None else ""
            self._emit(LogMessage("warning", f"step {step}: {change.text} refused{due}: {reason}"))
            return False
        if trial is not None:
            self.replanned = True
        old, new, metrics = self._do(change, trial)
        what = change.kind
        self._emit(Steered(step, self.host.epoch + 1, change.text, what, old, new, source, metrics))
        if metrics:
            shown = ", ".join(f"{k} {_fmt(v)}" for k, v in metrics.items())
            line = f"step {step}: validation now: {shown}"
        elif what == "unfreeze":
            line = f"step {step}: unfreeze: the frozen parameters train from now on"
        else:
            line = f"step {step}: {what} {_fmt(old)} → {_fmt(new)}"
        self._emit(LogMessage("info", f"{line} ({source} {change.text})"))
        return True

    def _do(self, change: Change, trial: LRSchedule | None) -> tuple[Any, Any, dict[str, float]]:
        host, schedule, at = self.host, self.schedule, self.progress
        if trial is not None:  # lr, epochs: commit the tried schedule
            old = host.lr() if change.kind == "lr" else schedule.epochs
            schedule.changes, schedule.epochs = trial.changes, trial.epochs
            new = schedule.lr_at(at) if change.kind == "lr" else schedule.epochs
            return old, new, {}
        if change.kind == "unfreeze":
            self.plan.unfreeze_now(host.epoch)
            host.unfreeze(" from the next epoch")
            host.train_mode()
            return "frozen", "trainable", {}
        metrics = host.validate()
        host.train_mode()
        return None, None, {k: float(v) for k, v in metrics.items()}

    # -- the record: config.steering and config.yaml -------------------------------------------
    def _record(self, change: Change) -> None:
        """Insert a live change into config.steering where it took effect (config.yaml follows
        at the next flush)."""
        step = self.position.global_step
        entry = SteerEntry(step=step, change=change.text)
        entries = list(self.config.value.steering)
        entries.insert(self.applied, entry)
        self.applied += 1
        self.config.replace(steering=entries)
        if self.live and self.live[-1].step != step:
            self.live = []
        self.live.append(entry)
        self.notes.append(f"step {step} {change.text}")

    def flush(self) -> None:
        """Bring config.yaml up to date with the live changes recorded so far (one write)."""
        if not self.notes:
            return
        shown = "; ".join(self.notes[:3]) + (
            f" (+{len(self.notes) - 3})" if len(self.notes) > 3 else ""
        )
        self.notes = []
        self.written = time.monotonic()
        self._emit(ConfigChanged(self.config.value.model_dump(mode="json"), f"steering: {shown}"))

    def finish(self, status: str) -> None:
        """At the end of the run, however it ended: no more changes, config.yaml complete.

        A failed run drops the live changes of the boundary right before the failure (the
        step that followed them failed), so `replay` and `--resume` do not repeat them.
        """
        self.finished = True
        failed_after = [e for e in self.live if e.step == self.position.global_step]
        if status == "failed" and failed_after:
            kept = [e for e in self.config.value.steering if not any(e is f for f in failed_after)]
            self.config.replace(steering=kept)
            dropped = ", ".join(e.change for e in failed_after)
            self._emit(
                LogMessage(
                    "warning",
                    f"the run failed right after steering at step {failed_after[0].step}: "
                    f"config.yaml does not keep {dropped} (replay and --resume leave it out)",
                )
            )
            self.notes.append(f"dropped {dropped}")
        self.live = []
        self.flush()

    def _emit(self, event: Any) -> None:
        if self.emit is not None:
            self.emit(event)
