"""What the run screen shows, derived from engine events. Pure Python: no Textual, no threads.

The run screen feeds each event to `RunModel.apply`, which returns the parts of the screen that
changed ("header", "progress", "charts", "table", "log", "state", "samples"), so only those
widgets redraw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tui_trainer import formatting as fmt
from tui_trainer.notify import alert_line
from tui_trainer.runlog.events import (
    Alert,
    CheckpointSaved,
    EpochEnd,
    Event,
    LogMessage,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    SamplesWritten,
    Steered,
    StepProgress,
    ValidationProgress,
)
from tui_trainer.runlog.status import Status
from tui_trainer.runlog.time_parts import read_parts
from tui_trainer.tui.curves import Curves

QUIET_CHECKPOINTS = frozenset({"epoch", "best"})
"""Routine checkpoint reasons that the table already shows; everything else is logged."""


@dataclass
class EpochRow:
    """One line of the per-epoch metrics table."""

    epoch: int
    metrics: dict[str, float]
    seconds: float
    best: bool = False


@dataclass(frozen=True)
class LogLine:
    """One line for the log pane."""

    level: str  # info | warning | error | trace
    text: str


@dataclass
class Progress:
    """Where the run is and how fast it goes."""

    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    elapsed: float = 0.0  # the run's training seconds
    epoch_elapsed: float = 0.0  # this epoch's training seconds
    it_per_second: float | None = None  # the engine's smoothed rates (engine.rate), as sent
    samples_per_second: float | None = None
    epoch_eta: float | None = None
    run_eta: float | None = None
    # where the training time goes (shares by part): the latest window's, the run's at the end
    time_parts: dict[str, float] | None = None
    # the validation pass in progress (its latest progress), None while training
    validation: ValidationProgress | None = None

    @property
    def epoch_fraction(self) -> float:
        """Fraction of the current epoch's steps done (0..1)."""
        return min(1.0, self.step / self.steps) if self.steps else 0.0

    @property
    def run_fraction(self) -> float:
        """Fraction of the whole run done (0..1), counting the current epoch's steps."""
        if not self.epochs:
            return 0.0
        done = max(0, self.epoch - 1) + (self.epoch_fraction if self.epoch else 0.0)
        return min(1.0, done / self.epochs)


@dataclass
class RunModel:
    """The state of one run as the console shows it."""

    preset: str = ""
    run_dir: str | None = None
    device: str = ""
    precision: str = ""
    total_params: int = 0
    trainable_params: int = 0  # at the start; all of them once unfrozen (planned or steered)
    started: bool = False
    progress: Progress = field(default_factory=Progress)
    loss: float | None = None  # train loss: mean over the steps since the previous event
    lr: float | None = None
    curves: Curves = field(default_factory=Curves)  # what the plots draw
    rows: list[EpochRow] = field(default_factory=list)
    paused: bool = False
    pause_requested: bool = False
    resume_requested: bool = False
    checkpoint_requested: bool = False
    stop_requested: str | None = None  # "epoch" | "step"
    finished: RunFinished | None = None
    samples: list[str] = field(default_factory=list)  # sets written (relative to run_dir)
    _log: list[LogLine] = field(default_factory=list)
    _alerts: list[Alert] = field(default_factory=list)  # alerts not yet rung
    _last_message: str | None = None  # the newest LogMessage's text
    _errors: set[str] = field(default_factory=set)  # error messages the log has shown
    _epochs_seconds: float = 0.0  # finished epochs, validation included
    _stepped: bool = False  # a train StepProgress arrived during the current epoch
    _unfreezes_at: int | None = None  # 1-based epoch of the planned unfreeze (freeze.epochs)

    # -- derived ---------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """running | pausing | paused | resuming | checkpointing | stopping | starting, or at the
        end the run's status: finished (completed) | stopped | interrupted | failed."""
        if self.finished is not None:
            status = self.finished.status
            return "finished" if status is Status.COMPLETED else str(status)
        if not self.started:
            return "starting"
        if self.stop_requested:
            return "stopping"
        if self.checkpoint_requested:
            return "checkpointing"
        if self.paused:
            return "resuming" if self.resume_requested else "paused"
        if self.pause_requested:
            return "pausing"
        return "running"

    @property
    def active(self) -> bool:
        """True until the run has finished (however it ended)."""
        return self.finished is None

    def take_log(self) -> list[LogLine]:
        """Return and clear the log lines produced since the previous call."""
        lines, self._log = self._log, []
        return lines

    def take_alerts(self) -> list[Alert]:
        """Return and clear the alerts that arrived since the previous call (to ring)."""
        alerts, self._alerts = self._alerts, []
        return alerts

    def log(self, level: str, text: str) -> None:
        """Add a line to the log (used by the screen for its own notes, e.g. key presses)."""
        self._log.append(LogLine(level, text))

    # -- requests made from the keyboard (shown at once, confirmed by events) --------------------
    def request_pause(self, pause: bool) -> set[str]:
        """Note a pause (True) or resume (False) request."""
        self.pause_requested = pause and not self.paused
        self.resume_requested = not pause and self.paused
        return {"state", "progress"} | self._after_validation("pauses", self.pause_requested)

    def request_checkpoint(self) -> set[str]:
        """Note a checkpoint request."""
        self.checkpoint_requested = True
        return {"state"} | self._after_validation("saves the checkpoint")

    def request_stop(self, mode: str) -> set[str]:
        """Note a stop request ("epoch" or "step")."""
        self.stop_requested = mode
        return {"state", "progress"} | self._after_validation("stops", mode == "step")

    def _after_validation(self, what: str, applies: bool = True) -> set[str]:
        """A request taken at a step boundary while a validation pass runs waits for the pass
        (the loop is polled between training steps): say so, once, in the log."""
        v = self.progress.validation
        if not applies or v is None or self.finished is not None:
            return set()
        self.log("info", f"validating ({v.batch}/{v.batches}): the run {what} when the pass ends")
        return {"log"}

    # -- events ----------------------------------------------------------------------------------
    def apply(self, event: Event) -> set[str]:
        """Update the model from one event; return the parts of the screen that changed."""
        plotted = {"charts"} if self.curves.apply(event) else set()
        return plotted | self._apply(event)

    def _apply(self, event: Event) -> set[str]:
        match event:
            case StepProgress():
                self.progress.validation = None
                return self._on_step(event)
            case ValidationProgress():
                self.progress.validation = event
                return {"progress"}
            case EpochEnd():
                return self._on_epoch_end(event)
            case LogMessage():
                return self._on_log(event)
            case Alert():
                if event.message != self._last_message:  # not the line the engine just logged
                    self.log("error" if event.level == "error" else "warning", alert_line(event))
                self._alerts.append(event)
                return {"log", "alert"}
            case CheckpointSaved():
                return self._on_checkpoint(event)
            case Paused():
                return self._on_paused(event)
            case Resumed():
                return self._on_resumed(event)
            case RunStarted():
                return self._on_started(event)
            case Steered():
                return self._on_steered(event)
            case RunFinished():
                return self._on_finished(event)
            case SamplesWritten():
                self.samples.append(event.folder)
                return {"samples"}
        return set()

    def _on_started(self, ev: RunStarted) -> set[str]:
        self.started = True
        self.preset, self.run_dir, self.device = ev.preset, ev.run_dir, ev.device
        self.precision = ev.precision
        self.total_params, self.trainable_params = ev.total_params, ev.trainable_params
        freeze = ev.config.get("freeze") if isinstance(ev.config, dict) else None
        until = freeze.get("epochs") if isinstance(freeze, dict) and freeze.get("enabled") else None
        self._unfreezes_at = until + 1 if isinstance(until, int) else None
        self.progress.epochs, self.progress.steps = ev.epochs, ev.steps_per_epoch
        self.progress.epoch = ev.start_epoch + 1
        where = f"resumed at epoch {ev.start_epoch + 1}" if ev.start_epoch else "started"
        self.log("info", f"run {where} on {ev.device} · {ev.precision}")
        if ev.run_dir:
            self.log("info", f"run directory: {ev.run_dir}")
        # ev.warnings are not logged here: the engine sends each one as a LogMessage too, and
        # LogMessage is the log's one source (a second copy showed every warning twice).
        return {"header", "progress", "state", "log"}

    def _on_step(self, ev: StepProgress) -> set[str]:
        p = self.progress
        p.epoch, p.epochs = ev.epoch, ev.epochs
        p.step, p.steps = ev.step, ev.steps
        if self._unfreezes_at is not None and ev.epoch >= self._unfreezes_at:
            self.trainable_params = self.total_params  # the engine unfroze them as planned
        p.elapsed = max(p.elapsed, ev.elapsed)  # never backwards; stands still while paused
        if ev.epoch_elapsed is not None:
            p.epoch_elapsed = ev.epoch_elapsed
        # The engine's one definition of speed (engine.rate); never re-derived here.
        p.it_per_second, p.samples_per_second = ev.steps_per_second, ev.samples_per_second
        if ev.time_parts:
            p.time_parts = ev.time_parts
        self._stepped = True
        if math.isfinite(ev.loss):  # already a mean over the steps since the last event
            self.loss = ev.loss
        self.lr = ev.lr
        self._update_eta()
        return {"progress", "charts"}

    def _update_eta(self) -> None:
        p = self.progress
        p.epoch_eta = fmt.epoch_eta(p.step, p.steps, p.it_per_second)
        if p.epoch_eta is None or not p.it_per_second or not p.steps:
            p.epoch_eta = p.run_eta = None
            return
        done = [row.seconds for row in self.rows]
        per_epoch = sum(done) / len(done) if done else p.steps / p.it_per_second
        p.run_eta = p.epoch_eta + max(0, p.epochs - p.epoch) * per_epoch

    def _on_epoch_end(self, ev: EpochEnd) -> set[str]:
        self.progress.validation = None
        if ev.is_best:
            for row in self.rows:
                row.best = False
        self.rows.append(EpochRow(ev.epoch, dict(ev.metrics), ev.seconds, ev.is_best))
        p = self.progress
        p.epoch, p.epochs, p.step = ev.epoch, ev.epochs, p.steps
        self._epochs_seconds += ev.seconds
        if not self._stepped:  # no progress came for this epoch (an older run's records)
            p.elapsed = max(p.elapsed, self._epochs_seconds)
            self._epoch_without_progress(ev)
        self._stepped = False
        if self.stop_requested == "epoch":
            self.log("info", f"stopping after epoch {ev.epoch}")
        self._update_eta()
        return {"table", "charts", "progress"}

    def _epoch_without_progress(self, ev: EpochEnd) -> None:
        """Take the epoch's train loss and LR from its end when no progress came.

        (Older runs' records; the engine now reports at every epoch's end. Speed is never
        guessed here: it comes from the engine's rate only.)
        """
        loss, lr = ev.metrics.get("train_loss"), ev.metrics.get("lr")
        if loss is not None and math.isfinite(loss):
            self.loss = loss
        if lr is not None:
            self.lr = lr

    def _on_log(self, ev: LogMessage) -> set[str]:
        self.log(ev.level, ev.message)
        self._last_message = ev.message
        if ev.level == "error":
            self._errors.add(ev.message)
        return {"log"}

    def _on_checkpoint(self, ev: CheckpointSaved) -> set[str]:
        if ev.reason == "request":
            self.checkpoint_requested = False
        if ev.reason not in QUIET_CHECKPOINTS:
            self.log("info", f"checkpoint saved ({ev.reason}): {ev.path}")
        return {"log", "state"} if ev.reason == "request" else {"log"}

    def _on_steered(self, ev: Steered) -> set[str]:
        """A steering change took effect (its log line comes as a LogMessage)."""
        if ev.what == "unfreeze":
            self.trainable_params = self.total_params
        if ev.what == "epochs" and isinstance(ev.new, int):
            self.progress.epochs = ev.new
            return {"progress"}
        return set()

    def _on_paused(self, ev: Paused) -> set[str]:
        self.paused, self.pause_requested = True, False
        self.progress.epoch, self.progress.step = ev.epoch, ev.step
        self.log("info", f"paused at epoch {ev.epoch}, step {ev.step}")
        return {"state", "log", "progress"}

    def _on_resumed(self, ev: Resumed) -> set[str]:
        self.paused, self.resume_requested = False, False
        self.log("info", f"resumed at epoch {ev.epoch}, step {ev.step}")
        return {"state", "log", "progress"}

    def _on_finished(self, ev: RunFinished) -> set[str]:
        self.finished = ev
        self.progress.validation = None
        self.paused = self.pause_requested = self.resume_requested = False
        self.progress.time_parts = read_parts(ev.summary.get("time_breakdown")) or (
            self.progress.time_parts
        )  # the whole run's shares replace the last window's
        self.checkpoint_requested = False
        if ev.status is Status.FAILED:
            error = ev.error or "unknown error"  # usually logged already, by its LogMessage
            self.log("error", "run failed" if error in self._errors else f"run failed: {error}")
            for line in (ev.traceback or "").rstrip().splitlines():
                self.log("trace", line)
        else:
            seconds = ev.summary.get("wall_seconds")
            took = f" in {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
            self.log("info", f"run {ev.status}{took}")
        return {"state", "log", "progress", "header"}
