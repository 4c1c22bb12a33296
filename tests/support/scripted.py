"""A test double for `tui_trainer.session.execute`: fixed events, no torch, no files.

It has the same signature as `execute` and honours `Control` at step boundaries the way the engine
does (pause blocks, checkpoint requests save, stops take effect at the next step or epoch, steering
changes are checked when sent and applied at the next step: `steered` lists them), but
every number is a function of the step, and time is virtual. Pilot and snapshot tests use it for
deterministic screens; `hold` freezes it at a chosen point until released or stopped.
It plays a classification run, or a detection run (`task`, else the config's `task`): loss parts
in the progress events and epoch lines, mAP metrics, the per-class AP report with a box picture.
`test_fake_matches_the_engine` (tests/functional/test_fake_contract.py) checks that it emits the
same event types, config and summary shape as a real run, and
`test_paused_steered_and_stopped_alike` that pausing, steering the LR and stopping give the
events a real run gives, in the same order; `test_the_detection_fake_matches_a_detection_run`
does the same for the detection mode's events, metric keys, loss parts and report.
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

DETECTION_REPORT = """\
class            boxes      AP    AP50       P       R
rectangle           38  0.4467  0.8204  0.7895  0.7895
ellipse             41  0.5123  0.8810  0.8537  0.8537
triangle            36  0.3310  0.6822  0.7222  0.7222
all                115  0.4300  0.7945  0.7885  0.7885
AP: COCO mAP@[.5:.95]; AP50 at IoU .5; P, R at IoU .5 at score >= 0.412 (best mean F1); 60 images

validation image 1 (128x72):
·······························┌t───────┐·······
···┏e━━━━━━━━━━━━┓·············│········│·······
···┃············│┃·············│········│·······
···┃············│┃·············│········│·······
···┃············│┃·············│········│·······
···┃············│┃·············└────────┘·······
···┃············│┃······························
···┗e .91━━━━━━━━┛·······┏━r━━━━━━━━━━━━━━━┓┐···
·························┃│················┃│···
·························┃│················┃│···
·························┃│················┃│···
·························┃│················┃│···
·························┗r .78━━━━━━━━━━━━┛│···
··························└─────────────────┘···
┌┐ true  ┏┓ predicted  e ellipse  r rectangle
t triangle"""
"""What a detection run's evaluator reports (`DetectionEvaluator.report`): the per-class AP
table and a text picture of one validation image, its true and predicted boxes."""

DETECTION_PARTS = {"bbox_ctrness": 0.1, "bbox_regression": 0.3, "classification": 0.6}
"""A detector's loss parts (an FCOS's, sorted as the engine's meter keeps them) and their
shares of the total loss. The class names are the generated shapes' (data.name detshapes)."""

FAILURE = "NonFiniteLoss: non-finite training loss at epoch 2, step 6"
SPLIT_NOTE = "split: 1,437 train / 360 val digits, by data.val_split 0.2 of 1,797 (seeded, stratified by class)"  # noqa: E501
"""The note a real run starts with (which split, how many), in its config and summary."""
DETECTION_NOTE = "data: generated shapes (train 240, val 60), 3 kinds"
"""A detection run's note about its data."""


def _traceback() -> str:
    """A real traceback of a training error raised here."""
    try:
        raise TrainingError(FAILURE)
    except TrainingError:
        return traceback.format_exc()


TIME_PARTS = {"data": 0.12, "copy": 0.03, "compute": 0.7, "optimizer": 0.1, "other": 0.05}
"""Where the fake's step time goes (every progress window and the summary): compute-bound."""


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
    classes: list[str] | None = None  # default: the digits' "0" "1" "2", the shapes' kinds
    task: str | None = None  # classification | detection (None: the config's task)
    time_parts: dict[str, float] = field(default_factory=lambda: dict(TIME_PARTS))
    calls: int = 0
    final: dict[str, float] = field(default_factory=dict)
    steered: list[tuple[int, str]] = field(default_factory=list)
    _epoch: int = 0
    _task: str = "classification"
    _finished: bool = False
    _release: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def class_names(self) -> list[str]:
        """The classes RunStarted names."""
        if self.classes is not None:
            return self.classes
        return ["rectangle", "ellipse", "triangle"] if self.detection else ["0", "1", "2"]

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

    @property
    def detection(self) -> bool:
        """True when this run plays a detector's (see `task`)."""
        return self._task == "detection"

    @property
    def monitor(self) -> str:
        """The metric that picks the best epoch (the task's default)."""
        return "val_map" if self.detection else "val_accuracy"

    def loss_parts(self, loss: float) -> dict[str, float] | None:
        """A detector's loss by part (summing to `loss`); None for other tasks."""
        if not self.detection:
            return None
        return {name: loss * share for name, share in DETECTION_PARTS.items()}

    def epoch_metrics(self, epoch: int, gstep: int) -> dict[str, float]:
        """The epoch line's metrics, with the engine's keys in its order."""
        train = round(self.loss(gstep) + 0.02, 4)
        metrics: dict[str, float] = {"epoch": epoch, "train_loss": train}
        val = {"val_loss": round(self.loss(gstep) + 0.05, 4)}
        acc = self.accuracy(epoch)
        if self.detection:  # mAP follows the accuracy's shape, lower, as a detector's does
            parts = self.loss_parts(train) or {}
            metrics.update({f"train_loss_{k}": round(v, 4) for k, v in parts.items()})
            val.update(
                val_map=round(acc - 0.3, 4),
                val_map50=round(acc - 0.05, 4),
                val_map75=round(acc - 0.4, 4),
                val_precision=round(acc - 0.1, 4),
                val_recall=round(acc - 0.12, 4),
            )
        else:
            val["val_accuracy"] = acc
        return {
            **metrics,
            **val,
            "lr": self.lr(epoch, self.steps),
            "epoch_seconds": self.steps * self.virtual_step_seconds,
        }

    def run_config(self) -> dict[str, Any]:
        """The config RunStarted carries (the schema accepts it; the contract test checks)."""
        data: dict[str, Any] = {"batch_size": self.batch_size}
        extra: dict[str, Any] = {}
        if self.detection:
            data.update(name="detshapes", image_size=96)
            extra = {"task": "detection", "model": {"name": "fcos_tiny"}}
        return RunConfig(epochs=self.epochs, data=data, notes=[self.note], **extra).model_dump(
            mode="json"
        )

    @property
    def note(self) -> str:
        """The split note a real run starts with."""
        return DETECTION_NOTE if self.detection else SPLIT_NOTE

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
        given = config.get("task") if isinstance(config, dict) else getattr(config, "task", None)
        self._task = self.task or str(given or "classification")
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
                config=self.run_config(),
                device="cpu",
                precision="fp32",
                epochs=self.epochs,
                start_epoch=0,
                steps_per_epoch=self.steps,
                trainable_params=12_906,
                total_params=12_906,
                task=self._task,
                class_names=self.class_names,
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
                            loss_parts=self.loss_parts(self.loss(gstep)),
                            time_parts=dict(self.time_parts),
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
            metrics = self.epoch_metrics(epoch, gstep)
            acc = metrics[self.monitor]
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
                    best_metric=self.monitor,
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
                "metric": self.monitor,
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
            "notes": [self.note],
            "time_breakdown": dict(self.time_parts),
            "evaluated_weights": "model",
        }
        if failed:
            summary["error"] = FAILURE
        summary["run_dir"] = self.run_dir
        summary["replay_command"] = f"tui-trainer replay {self.run_dir}"
        event = RunFinished(
            status=status,
            summary=summary,
            report="" if failed else DETECTION_REPORT if self.detection else REPORT,
            error=FAILURE if failed else None,
            traceback=_traceback() if failed else None,
        )
        emit(event)
        return event
