"""A script run's counts and the events they make: progress, epoch lines, best, summary.

Plain bookkeeping on the training thread: `Run` feeds it (steps, samples, data-wait time, the
logged values) and emits what it builds. Rates are over the window since the previous progress
event; the clock is the pause-free training clock (`ControlLink.clock`).
"""

from __future__ import annotations

import math
from typing import Any

from tui_trainer.runlog.events import EpochEnd, StepProgress
from tui_trainer.runlog.layout import EPOCH_FIELDS
from tui_trainer.runlog.summary import RunSummary
from tui_trainer.runlog.time_parts import shares


class Tally:
    """Steps, epochs, samples, data-wait and the best epoch of one script run."""

    def __init__(self, monitor: str, mode: str, now: float) -> None:
        self.monitor, self.mode = monitor, mode
        self.global_step = 0
        self.epoch = 0  # 0-based epoch in progress
        self.epochs_done = 0
        self.step = 0  # steps done in this epoch
        self.steps = 0  # len(loader) of this epoch, 0 when unknown
        self.history: list[dict[str, Any]] = []
        self.best: tuple[float | None, int | None] = (None, None)
        self.samples = 0
        self.data_wait = 0.0
        self.train_loss: float | None = None
        self.wall_before = 0.0  # a resumed run's earlier segments
        self.start = now
        self.epoch_started = now
        # (clock, global_step, samples, data_wait) at the last event
        self._window = (now, 0, 0, 0.0)

    def restore(self, rows: list[dict[str, Any]], global_step: int, wall_before: float) -> None:
        """Continue a run: its epoch lines (metrics.jsonl records), steps and wall time."""
        self.history = [
            {k: v for k, v in r.items() if k not in EPOCH_FIELDS or k == "epoch"} for r in rows
        ]
        for row in self.history:
            self._judge(row.get(self.monitor), int(row.get("epoch") or 0))
        self.epochs_done = self.epoch = len(self.history)
        self.global_step = global_step
        self._window = (self._window[0], global_step, 0, self.data_wait)
        self.wall_before = wall_before

    def progress(
        self, now: float, values: dict[str, float], lr: float | None, epochs: int | None
    ) -> StepProgress | None:
        """The progress event for the window up to `now` (None: nothing happened in it)."""
        then, steps0, samples0, wait0 = self._window
        dt = now - then
        loss = values.pop("loss", math.nan)
        if math.isfinite(loss):
            self.train_loss = loss
        steps = self.global_step - steps0
        if steps <= 0 and not values and math.isnan(loss):
            return None
        self._window = (now, self.global_step, self.samples, self.data_wait)
        samples = self.samples - samples0
        wait = self.data_wait - wait0
        return StepProgress(
            epoch=self.epoch + 1,
            epochs=epochs or self.epoch + 1,
            step=self.step,
            steps=self.steps or self.step,
            global_step=self.global_step,
            loss=loss,
            lr=lr if lr is not None else math.nan,
            samples_per_second=samples / dt if dt > 0 and samples > 0 else None,
            elapsed=round(now - self.start, 3),
            steps_per_second=steps / dt if dt > 0 and steps > 0 else None,
            epoch_elapsed=round(now - self.epoch_started, 3),
            loss_parts=values or None,
            time_parts=_data_and_rest(wait, dt),
        )

    def epoch_end(
        self, now: float, metrics: dict[str, float], lr: float | None, epochs: int | None
    ) -> EpochEnd:
        """The epoch line for the epoch in progress (the engine's row layout)."""
        epoch = self.epoch + 1
        row: dict[str, Any] = {"epoch": epoch}
        if self.train_loss is not None and "train_loss" not in metrics:
            row["train_loss"] = self.train_loss
        row.update(metrics)
        if lr is not None and "lr" not in row:
            row["lr"] = lr
        seconds = round(now - self.epoch_started, 3)
        row["epoch_seconds"] = seconds
        is_best = self._judge(row.get(self.monitor), epoch)
        self.history.append(row)
        self.epochs_done = max(self.epochs_done, epoch)
        best_value, best_epoch = self.best
        return EpochEnd(
            epoch, epochs or epoch, row, seconds, is_best, self.monitor, best_value, best_epoch
        )

    def _judge(self, value: Any, epoch: int) -> bool:
        """Whether `value` (the monitored metric of `epoch`) is the best so far; notes it."""
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        best = self.best[0]
        if best is not None and not (value < best if self.mode == "min" else value > best):
            return False
        self.best = (float(value), epoch)
        return True

    def summary(self, status: str, wall: float, train: float, error: str | None) -> RunSummary:
        """summary.json's content (the engine's keys, plus `data_wait_seconds`)."""
        summary: RunSummary = {
            "status": status,
            "epochs_completed": len(self.history),
            "best": {"metric": self.monitor, "value": self.best[0], "epoch": self.best[1]},
            "final": self.history[-1] if self.history else {},
            "wall_seconds": round(wall, 3),
            "wall_seconds_total": round(self.wall_before + wall, 3),
            "train_seconds": round(train, 3),
            "samples_per_second": round(self.samples / train, 3)
            if train > 0 and self.samples
            else None,
            "global_step": self.global_step,
        }
        # summary.json takes this key of ours beyond RunSummary's (readers use .get)
        extra: dict[str, Any] = summary  # type: ignore[assignment]
        extra["data_wait_seconds"] = round(self.data_wait, 3)
        breakdown = _data_and_rest(self.data_wait, train)
        if breakdown is not None:
            summary["time_breakdown"] = breakdown
        if error:
            summary["error"] = error
        return summary


def _data_and_rest(data_wait: float, seconds: float) -> dict[str, float] | None:
    """The shares a script run knows of `seconds` of training time: waiting on its loader
    ("data") and the rest ("other"); None when it did not time a loader (`Run.iterate`)."""
    if data_wait <= 0:
        return None
    return shares({"data": data_wait, "other": max(0.0, seconds - data_wait)}, 4)
