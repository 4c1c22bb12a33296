"""What a run's control socket says about the run, and what its control requests do to it.

The server thread keeps it: events update it (`track`), `status` replies read it, and control
requests go through `apply` to the run's thread-safe `Control`.
"""

from __future__ import annotations

from typing import Any

from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    Alert,
    EpochEnd,
    Event,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    Steered,
    StepProgress,
    ValidationProgress,
)

ENDED = ("completed", "stopped", "pruned", "interrupted", "failed")


class RunState:
    """The run's state as its events tell it (epoch, step, best, paused, ended)."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self.fields: dict[str, Any] = {"state": "running"}

    @property
    def ended(self) -> bool:
        """The run has finished (however it ended)."""
        return self.fields["state"] in ENDED

    def track(self, event: Event) -> None:
        """Note what `event` changes."""
        s = self.fields
        if isinstance(event, RunStarted):
            s.update(preset=event.preset, epochs=event.epochs, epoch=event.start_epoch + 1)
            s.update(device=event.device, world_size=event.world_size)
        elif isinstance(event, StepProgress):
            s.update(epoch=event.epoch, epochs=event.epochs, step=event.step, steps=event.steps)
            s["global_step"] = event.global_step
            s.pop("validating", None)
        elif isinstance(event, ValidationProgress):
            s["validating"] = {"batch": event.batch, "batches": event.batches}
        elif isinstance(event, EpochEnd):
            s.pop("validating", None)
            s.update(epochs_completed=event.epoch, best_metric=event.best_metric)
            s.update(best_value=event.best_value, best_epoch=event.best_epoch)
        elif isinstance(event, Steered) and event.what == "epochs" and isinstance(event.new, int):
            s["epochs"] = event.new  # before the next step says so (a paused run)
        elif isinstance(event, Paused):
            s["state"] = "paused"
        elif isinstance(event, Resumed):
            s["state"] = "running"
        elif isinstance(event, RunFinished):
            s["state"] = event.status
        elif isinstance(event, Alert):
            s["alert"] = {"rule": event.rule, "message": event.message, "time": event.time}

    def status(self) -> dict[str, Any]:
        """The fields of a `status` reply (a request asked but not yet taken shows as such)."""
        s = dict(self.fields)
        if s["state"] == "running" and self.control.paused:
            s["state"] = "pausing"
        if (
            s["state"] in ("running", "paused", "pausing")
            and self.control.stop_mode.value != "none"
        ):
            s["state"] = "stopping"
        return s

    def apply(self, cmd: str, now: bool) -> dict[str, Any]:
        """Pass a control request (`pause`, `resume`, `checkpoint`, `stop`, `prune`) to the run;
        the reply's fields."""
        c = self.control
        paused = self.fields["state"] == "paused"
        if cmd == "pause":
            c.pause()
            return {"state": "paused" if paused else "pausing"}
        if cmd == "resume":
            c.resume()
            return {"state": "resuming" if paused else "running"}
        if cmd == "checkpoint":
            c.request_checkpoint()
            return {"state": "checkpointing"}
        if cmd == "prune":  # a sweep's pruner: end after this epoch, the run's status "pruned"
            c.request_stop(StopMode.EPOCH, status="pruned")
            return {"state": "stopping", "when": "epoch"}
        c.request_stop(StopMode.STEP if now else StopMode.EPOCH, status="stopped")
        return {"state": "stopping", "when": "step" if now else "epoch"}
