"""Headless console output: tqdm bars on a TTY, one plain line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from tui_trainer.config.tasks import effective_batch
from tui_trainer.formatting import (
    duration,
    epoch_eta,
    metrics_line,
    pass_rate,
    rate,
    run_eta,
    samples_rate,
    speed,
)
from tui_trainer.next_steps import next_step_lines
from tui_trainer.notify import alert_line, ring_sequence, should_ring
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
    StepProgress,
    ValidationProgress,
)
from tui_trainer.runlog.summary import total_wall_seconds
from tui_trainer.runlog.time_parts import hint, legend, read_parts

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{engine}]"
"""tqdm's bar without its own clocks and rate: those come from the engine (`tqdm_postfix`)."""


class EngineBar(tqdm):
    """A tqdm bar whose bracket is `engine`: the engine's clocks and rates (tqdm's documented
    way to add a field to `bar_format`), never tqdm's own timing."""

    engine = ""

    @property
    def format_dict(self) -> dict:
        """tqdm's fields plus ``engine``."""
        return {**super().format_dict, "engine": self.engine}


def tqdm_postfix(event: StepProgress) -> str:
    """The bar's bracket: the epoch's elapsed<remaining, the engine's rates, loss, lr."""
    eta = epoch_eta(event.step, event.steps, event.steps_per_second)
    parts = [
        f"{duration(event.epoch_elapsed)}<{duration(eta)}",
        speed(event.steps_per_second, event.samples_per_second),
        f"loss={event.loss:.4f}",
        f"lr={event.lr:.3g}",
    ]
    if event.grad_norm is not None:
        parts.append(f"gnorm={event.grad_norm:.3g}")
    return ", ".join(parts)


def validation_postfix(event: ValidationProgress) -> str:
    """The validation bar's bracket: the pass's elapsed<remaining and its mean rate."""
    per_second = pass_rate(event.batch, event.seconds)
    eta = epoch_eta(event.batch, event.batches, per_second)
    return f"{duration(event.seconds)}<{duration(eta)}, {rate(per_second)}"


class ConsoleSink:
    """Prints a run's progress; `tty` picks tqdm bars (True) or plain periodic lines (False)."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.bar: EngineBar | None = None
        self.bar_validates = False  # the open bar is a validation pass's (not an epoch's steps)
        self.start_epoch = 0
        self.last_line = 0.0
        self.plain_interval = 5.0
        self.last_message: str | None = None  # the newest LogMessage's text

    def _print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        """Show one event."""
        if isinstance(event, StepProgress):
            self._progress(event)
        elif isinstance(event, ValidationProgress):
            self._validating(event)
        elif isinstance(event, EpochEnd):
            self._close_bar()
            best = "  *best" if event.is_best else ""
            self._print(
                f"epoch {event.epoch}/{event.epochs}  {metrics_line(event.metrics)}  "
                f"({event.seconds:.1f}s){best}"
            )
        elif isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, LogMessage):
            prefix = "" if event.level == "info" else f"{event.level}: "
            self._print(f"{prefix}{event.message}")
            self.last_message = event.message
        elif isinstance(event, Alert):
            self._alert(event)
        elif isinstance(event, CheckpointSaved):
            if event.reason not in {"epoch", "periodic"}:
                self._print(f"checkpoint saved ({event.reason}): {event.path}")
        elif isinstance(event, Paused):
            self._print(f"paused at epoch {event.epoch}, step {event.step}")
        elif isinstance(event, Resumed):
            self._print("resumed")
        elif isinstance(event, RunFinished):
            self._finished(event)

    def _alert(self, event: Alert) -> None:
        """The alert's line (unless it repeats the line just logged: a non-finite loss's
        failure); on a terminal also the bell and a desktop notification."""
        if event.message != self.last_message:
            self._print(f"{event.level}: {alert_line(event)}")
        if self.tty and should_ring(event):
            self.stream.write(ring_sequence(event))
            self.stream.flush()

    def _started(self, event: RunStarted) -> None:
        self.start_epoch = event.start_epoch
        self.plain_interval = float(event.config.get("progress", {}).get("plain_interval", 5.0))
        cfg = event.config
        effective = effective_batch(cfg["data"]["batch_size"], cfg["accumulate"], event.world_size)
        procs = f"×{event.world_size} processes" if event.world_size > 1 else ""
        self._print(
            f"tui-trainer: {event.preset} · {cfg['model']['name']} on {cfg['data']['name']} · "
            f"{event.device} {event.precision} · {event.epochs} epochs · batch "
            f"{cfg['data']['batch_size']}×{cfg['accumulate']}{procs}={effective} · "
            f"{event.trainable_params:,}/{event.total_params:,} params trainable"
        )
        self._print(f"run directory: {event.run_dir}")

    def _progress(self, event: StepProgress) -> None:
        if self.tty:
            if self.bar_validates:  # a validation asked for mid-epoch is over: training again
                self._close_bar()
            if self.bar is None:
                self._open_bar(event.steps, f"epoch {event.epoch}/{event.epochs}", "it")
            self._move_bar(event.step, tqdm_postfix(event))
            return
        if not self._plain_due():
            return
        pct = 100 * event.step / max(event.steps, 1)
        e = event
        eta = run_eta(e.epoch, e.step, e.steps, e.epochs, self.start_epoch, e.elapsed)
        self._print(
            f"epoch {event.epoch}/{event.epochs}  step {event.step}/{event.steps} ({pct:.0f}%)  "
            f"loss {event.loss:.4f}  lr {event.lr:.3g}  "
            + ("" if event.grad_norm is None else f"grad norm {event.grad_norm:.3g}  ")
            + f"{speed(event.steps_per_second, event.samples_per_second)}  "
            f"elapsed {duration(event.elapsed, compact=True)}  "
            f"eta {duration(eta, compact=True)}"
        )

    def _validating(self, event: ValidationProgress) -> None:
        """The validation pass: its own bar on a TTY (in the epoch bar's place), else a plain
        line every `plain_interval`."""
        if self.tty:
            if not self.bar_validates:
                self._close_bar()
                desc = f"validate {event.epoch}/{event.epochs}"
                self._open_bar(event.batches, desc, "batch", validates=True)
            self._move_bar(event.batch, validation_postfix(event))
            return
        if not self._plain_due():
            return
        pct = 100 * event.batch / max(event.batches, 1)
        per_second = pass_rate(event.batch, event.seconds)
        eta = epoch_eta(event.batch, event.batches, per_second)
        self._print(
            f"epoch {event.epoch}/{event.epochs}  validating {event.batch}/{event.batches} "
            f"({pct:.0f}%)  {rate(per_second)}  elapsed {duration(event.seconds, compact=True)}  "
            f"eta {duration(eta, compact=True)}"
        )

    def _open_bar(self, total: int, desc: str, unit: str, validates: bool = False) -> None:
        self.bar = EngineBar(
            total=total,
            desc=desc,
            unit=unit,
            file=self.stream,
            dynamic_ncols=True,
            leave=False,
            bar_format=BAR_FORMAT,
        )
        self.bar_validates = validates

    def _move_bar(self, n: int, engine: str) -> None:
        """The open bar to `n` with `engine` (the engine's figures) in its bracket."""
        assert self.bar is not None
        self.bar.engine = engine
        self.bar.update(n - self.bar.n)
        self.bar.refresh()

    def _plain_due(self) -> bool:
        """Whether a plain line is due (one every `plain_interval`); notes it when it is."""
        now = time.monotonic()
        if now - self.last_line < self.plain_interval:
            return False
        self.last_line = now
        return True

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.bar_validates = False

    def _finished(self, event: RunFinished) -> None:
        self._close_bar()
        s = event.summary
        best = s.get("best")
        lines = [f"run {event.status}: {s.get('epochs_completed', 0)} epoch(s)"]
        if best and best.get("value") is not None:
            lines.append(f"best {best['metric']} {best['value']:.4f} at epoch {best['epoch']}")
        if s.get("final"):
            lines.append("final " + metrics_line(s["final"]))
        lines.append(
            f"{samples_rate(s.get('samples_per_second'))} (mean over training time), "
            f"{duration(total_wall_seconds(s) or 0, compact=True)} wall"
        )
        parts = read_parts(s.get("time_breakdown"))  # where the training time went
        if parts:
            lines.append(f"time: {legend(parts)}")
            advice = hint(parts)
            if advice:
                lines.append(f"hint: {advice}")
        if s.get("skipped_steps"):
            lines.append(f"fp16: {s['skipped_steps']} optimizer step(s) skipped by GradScaler")
        missing = s.get("checkpoint_missing")  # the weights are not on disk: said last, below
        if event.error and event.error != missing:
            lines.append(f"error: {event.error}")
        if event.report:
            lines.append("per-class report (validation):\n" + event.report.rstrip())
        lines += next_step_lines({"status": event.status, **s})  # resume, replay, traceback
        if missing:  # the last line: which checkpoint is missing and the space it needs
            lines.append(f"error: {missing}")
        self._print("\n".join(lines))
