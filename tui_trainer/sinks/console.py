"""Headless console output: tqdm bars on a TTY, one plain line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from tui_trainer.config.tasks import effective_batch
from tui_trainer.engine.events import (
    CheckpointSaved,
    EpochEnd,
    Event,
    LogMessage,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    StepProgress,
)
from tui_trainer.formatting import duration, metrics_line, run_eta
from tui_trainer.next_steps import next_step_lines


class ConsoleSink:
    """Prints a run's progress; `tty` picks tqdm bars (True) or plain periodic lines (False)."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.bar: tqdm | None = None
        self.start_epoch = 0
        self.last_line = 0.0
        self.plain_interval = 5.0

    def _print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        """Show one event."""
        if isinstance(event, StepProgress):
            self._progress(event)
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
        elif isinstance(event, CheckpointSaved):
            if event.reason not in {"epoch", "periodic"}:
                self._print(f"checkpoint saved ({event.reason}): {event.path}")
        elif isinstance(event, Paused):
            self._print(f"paused at epoch {event.epoch}, step {event.step}")
        elif isinstance(event, Resumed):
            self._print("resumed")
        elif isinstance(event, RunFinished):
            self._finished(event)

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
            if self.bar is None:
                self.bar = tqdm(
                    total=event.steps,
                    desc=f"epoch {event.epoch}/{event.epochs}",
                    unit="step",
                    file=self.stream,
                    dynamic_ncols=True,
                    leave=False,
                )
            self.bar.update(event.step - self.bar.n)
            extra = {} if event.grad_norm is None else {"gnorm": f"{event.grad_norm:.3g}"}
            self.bar.set_postfix(
                loss=f"{event.loss:.4f}", lr=f"{event.lr:.3g}", **extra, refresh=True
            )
            return
        now = time.monotonic()
        if now - self.last_line < self.plain_interval:
            return
        self.last_line = now
        pct = 100 * event.step / max(event.steps, 1)
        e = event
        eta = run_eta(e.epoch, e.step, e.steps, e.epochs, self.start_epoch, e.elapsed)
        self._print(
            f"epoch {event.epoch}/{event.epochs}  step {event.step}/{event.steps} ({pct:.0f}%)  "
            f"loss {event.loss:.4f}  lr {event.lr:.3g}  "
            + ("" if event.grad_norm is None else f"grad norm {event.grad_norm:.3g}  ")
            + f"{event.samples_per_second:,.0f} samples/s  "
            f"elapsed {duration(event.elapsed, compact=True)}  "
            f"eta {duration(eta, compact=True)}"
        )

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _finished(self, event: RunFinished) -> None:
        self._close_bar()
        s = event.summary
        best = s.get("best") or {}
        lines = [f"run {event.status}: {s.get('epochs_completed', 0)} epoch(s)"]
        if best.get("value") is not None:
            lines.append(f"best {best['metric']} {best['value']:.4f} at epoch {best['epoch']}")
        if s.get("final"):
            lines.append("final " + metrics_line(s["final"]))
        lines.append(
            f"{s.get('samples_per_second', 0):,.0f} samples/s, "
            f"{duration(s.get('wall_seconds', 0), compact=True)} wall"
        )
        if s.get("skipped_steps"):
            lines.append(f"fp16: {s['skipped_steps']} optimizer step(s) skipped by GradScaler")
        if event.error:
            lines.append(f"error: {event.error}")
        if event.report:
            lines.append("per-class report (validation):\n" + event.report.rstrip())
        lines += next_step_lines({"status": event.status, **s})  # resume, replay, traceback
        self._print("\n".join(lines))
