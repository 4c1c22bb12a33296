"""A test double for `tui_trainer.session.execute`: fixed events, no torch, no files.

It has the same signature as `execute` and honours `Control` at step boundaries the way the engine
does (pause blocks, checkpoint requests save, stops take effect at the next step or epoch, steering
changes are checked when sent and applied at the next step: `steered` lists them), but
every number is a function of the step, and time is virtual. Pilot and snapshot tests use it for
deterministic screens; `hold` freezes it at a chosen point until released or stopped.
`test_fake_matches_the_engine` (tests/functional/test_fake_contract.py) checks that it emits the
same event types, config and summary shape as a real run, and
`test_paused_steered_and_stopped_alike` that pausing, steering the LR and stopping give the
events a real run gives, in the same order.
"""

from __future__ import annotations

import math
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_trainer.config.schema import RunConfig
from tui_trainer.errors import TrainingError
from tui_trainer.runlog import RunSummary
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    CheckpointSaved,
    EpochEnd,
    LogMessage,
    LRPlan,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    Sink,
    Steered,
    StepProgress,
)

REPORT = """\
              precision    recall  f1-score   support

           0     1.0000    0.9722    0.9859        36
           1     0.9459    0.9722    0.9589        36
           2     1.0000    1.0000    1.0000        35

    accuracy                         0.9813       107
   macro avg     0.9820    0.9815    0.9816       107
weighted avg     0.9821    0.9813    0.9814       107
"""

FAILURE = "NonFiniteLoss: non-finite training loss at epoch 2, step 6"
SPLIT_NOTE = "split: 1,437 train / 360 val digits, by data.val_split 0.2 of 1,797 (seeded, stratified by class)"  # noqa: E501
"""The note a real run starts with (which split, how many), in its config and summary."""


def _traceback() -> str:
    """A real traceback of a training error raised here."""
    try:
        raise TrainingError(FAILURE)
    except TrainingError:
        return traceback.format_exc()


@dataclass
class ScriptedExecutor:
    """Replays a deterministic run; see the module docstring.

    `hold=(epoch, step)` blocks after that step's progress event until `release()` is called or a
    stop is requested; `fail_at=(epoch, step)` ends the run there with status "failed";
    `step_seconds` sleeps for real between steps (for demos and timing tests).
    """

    epochs: int = 3
    steps: int = 12
    batch_size: int = 32
    progress_every: int = 3
    virtual_step_seconds: float = 0.05
    step_seconds: float = 0.0
    hold: tuple[int, int] | None = None
    fail_at: tuple[int, int] | None = None
    run_dir: str = "runs/scripted/20250101-000000"
    classes: list[str] = field(default_factory=lambda: ["0", "1", "2"])
    calls: int = 0
    final: dict[str, float] = field(default_factory=dict)
    steered: list[tuple[int, str]] = field(default_factory=list)
    _epoch: int = 0
    _finished: bool = False
    _release: threading.Event = field(default_factory=threading.Event, repr=False)

    def release(self) -> None:
        """Let a held run carry on."""
        self._release.set()

    # -- numbers -----------------------------------------------------------------------------
    def loss(self, global_step: int) -> float:
        """Train loss after `global_step` micro-steps: a smooth decay with a little wobble."""
        return 2.3 * math.exp(-global_step / 15) + 0.1 + 0.03 * math.sin(global_step)

    def lr(self, epoch: int, step: int) -> float:
        """A cosine schedule from 0.05 over the whole run."""
        t = ((epoch - 1) * self.steps + step) / (self.epochs * self.steps)
        return 0.05 * 0.5 * (1 + math.cos(math.pi * t))

    def accuracy(self, epoch: int) -> float:
        """Validation accuracy after `epoch` epochs (peaks one epoch before the end)."""
        drop = 0.05 if epoch == self.epochs and epoch > 1 else 0.0
        return round(0.6 + 0.35 * (1 - math.exp(-epoch)) - drop, 4)

    # -- the run -------------------------------------------------------------------------------
    def __call__(
        self,
        config: Any,
        preset: str,
        *,
        sinks: list[Sink],
        control: Control,
        out: str | Path | None = None,
        resume: str | Path | None = None,
    ) -> RunFinished:
        """Run the script, calling every sink with each event; returns the final event."""
        self.calls += 1
        self._release.clear()  # every run holds at `hold`
        self._epoch, self._finished = 1, False
        control.steer_check = self._steer_check

        def emit(event: Any) -> None:
            for sink in sinks:
                sink(event)

        emit(
            RunStarted(
                run_dir=self.run_dir,
                preset=preset,
                config=RunConfig(
                    epochs=self.epochs, data={"batch_size": self.batch_size}, notes=[SPLIT_NOTE]
                ).model_dump(mode="json"),
                device="cpu",
                precision="fp32",
                epochs=self.epochs,
                start_epoch=0,
                steps_per_epoch=self.steps,
                trainable_params=12_906,
                total_params=12_906,
                task="classification",
                class_names=self.classes,
            )
        )
        total = self.epochs * self.steps
        plan = [(self.epochs * i / 100, self.lr(1, total * i // 100)) for i in range(101)]
        emit(LRPlan(plan, "start"))
        emit(LogMessage("info", "phase: training all layers"))
        best: tuple[float, int] | None = None
        gstep = 0
        status = "completed"
        epochs_done = 0
        for epoch in range(1, self.epochs + 1):
            self._epoch = epoch
            for step in range(1, self.steps + 1):
                gstep += 1
                if self.step_seconds:
                    threading.Event().wait(self.step_seconds)
                elapsed = gstep * self.virtual_step_seconds
                if step % self.progress_every == 0 or step == self.steps:
                    emit(
                        StepProgress(
                            epoch=epoch,
                            epochs=self.epochs,
                            step=step,
                            steps=self.steps,
                            global_step=gstep,
                            loss=self.loss(gstep),
                            lr=self.lr(epoch, step),
                            samples_per_second=self.batch_size / self.virtual_step_seconds,
                            elapsed=elapsed,
                            steps_per_second=1 / self.virtual_step_seconds,
                            epoch_elapsed=step * self.virtual_step_seconds,
                        )
                    )
                if self.fail_at == (epoch, step):
                    return self._finish(emit, "failed", epochs_done, best, gstep)
                if self.hold == (epoch, step):
                    while not self._release.wait(0.01) and control.stop_mode is StopMode.NONE:
                        pass
                stop = self._boundary(emit, control, epoch, step, gstep)
                if stop:
                    status = control.stop_status
                    return self._finish(emit, status, epochs_done, best, gstep)
            acc = self.accuracy(epoch)
            metrics = {
                "epoch": epoch,
                "train_loss": round(self.loss(gstep) + 0.02, 4),
                "val_loss": round(self.loss(gstep) + 0.05, 4),
                "val_accuracy": acc,
                "lr": self.lr(epoch, self.steps),
                "epoch_seconds": self.steps * self.virtual_step_seconds,
            }
            self.final = metrics
            is_best = best is None or acc > best[0]
            if is_best:
                best = (acc, epoch)
            assert best is not None
            emit(
                EpochEnd(
                    epoch=epoch,
                    epochs=self.epochs,
                    metrics=metrics,
                    seconds=self.steps * self.virtual_step_seconds,
                    is_best=is_best,
                    best_metric="val_accuracy",
                    best_value=best[0],
                    best_epoch=best[1],
                )
            )
            epochs_done = epoch
            if control.stop_mode is StopMode.EPOCH:
                status = control.stop_status
                break
        return self._finish(emit, status, epochs_done, best, gstep)

    def _boundary(self, emit: Any, control: Control, epoch: int, step: int, gstep: int) -> bool:
        """Honour control at a step boundary like the engine; True when the run must stop now."""
        paused = control.paused
        if paused:  # requests that arrive while paused are honoured as they come
            emit(Paused(epoch, step))
            while not control.wait_while_paused(0.01):
                self._honour(emit, control, epoch, step, gstep)
        self._honour(emit, control, epoch, step, gstep)  # the last ones before Resumed
        if paused:
            emit(Resumed(epoch, step))
        if control.stop_mode is StopMode.STEP:
            reason = "signal" if control.exit_signal else "stop"
            emit(CheckpointSaved(self._last, reason, epoch - 1, gstep))
            return True
        return False

    @property
    def _last(self) -> str:
        return f"{self.run_dir}/checkpoints/last.pt"

    def _honour(self, emit: Any, control: Control, epoch: int, step: int, gstep: int) -> None:
        """Checkpoint requests and steering changes, like the engine's boundary (a mid-epoch
        checkpoint holds the epochs completed, as the engine's position does)."""
        if control.take_checkpoint_request():
            emit(CheckpointSaved(self._last, "request", epoch - 1, gstep))
        for change in control.take_steers():  # like engine.steer.Steerer: an event and a line
            self.steered.append((gstep, change))
            what = change.split("=")[0]
            old, new = self._steered_values(change, epoch, step)
            emit(Steered(gstep, epoch, change, what, old, new, "live"))
            emit(LogMessage("info", f"step {gstep}: {change} (live {change})"))

    def _steered_values(self, change: str, epoch: int, step: int) -> tuple[Any, Any]:
        """`Steered.old`/`new` as the engine reports them for an LR change (the LR in force,
        the LR set); None for the changes this script does not model."""
        what, _, value = change.partition("=")
        if what != "lr":
            return None, None
        old = self.lr(epoch, step)
        return old, old * float(value[1:]) if value.startswith("*") else float(value)

    def _steer_check(self, change: Any) -> str | None:
        """The engine's refusals that apply to this run (nothing is frozen here)."""
        if self._finished:
            return "the run has finished"
        if change.kind == "unfreeze":
            return "nothing is frozen (freeze.enabled is false)"
        if change.kind == "epochs" and change.value < self._epoch:
            return f"epochs={change.value} is below the epoch in progress ({self._epoch})"
        return None

    def _finish(
        self, emit: Any, status: str, epochs_done: int, best: tuple[float, int] | None, gstep: int
    ) -> RunFinished:
        failed = status == "failed"
        self._finished = True
        wall = round(gstep * self.virtual_step_seconds, 3)
        summary: RunSummary = {  # the keys and order of the engine's summary (contract test)
            "status": status,
            "epochs_completed": epochs_done,
            "best": {
                "metric": "val_accuracy",
                "value": best[0] if best else None,
                "epoch": best[1] if best else None,
            },
            "final": self.final,
            "wall_seconds": wall,
            "wall_seconds_total": wall,
            "train_seconds": wall,
            "samples_per_second": self.batch_size / self.virtual_step_seconds,
            "global_step": gstep,
            "precision": "fp32",
            "skipped_steps": 0,
            "nonfinite_skipped": 0,
            "notes": [SPLIT_NOTE],
            "evaluated_weights": "model",
        }
        if failed:
            summary["error"] = FAILURE
        summary["run_dir"] = self.run_dir
        summary["replay_command"] = f"tui-trainer replay {self.run_dir}"
        event = RunFinished(
            status=status,
            summary=summary,
            report="" if failed else REPORT,
            error=FAILURE if failed else None,
            traceback=_traceback() if failed else None,
        )
        emit(event)
        return event
