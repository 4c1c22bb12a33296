"""Where a run is (saved in checkpoints), the best metric so far, and the run's summary."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from tui_trainer.engine.rate import mean_samples_per_second
from tui_trainer.runlog.summary import RunSummary


@dataclass
class Progress:
    """Where the run is; saved in checkpoints so a resume continues from the same place."""

    epoch: int = 0  # 0-based epoch being trained
    batch: int = 0  # micro-batches done in that epoch
    global_step: int = 0  # optimizer steps done in the run
    samples: int = 0  # training samples processed in this process
    best_value: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    wall_before: float = 0.0  # wall seconds of the run's earlier segments (before a resume)
    segment_start: float = field(default_factory=time.monotonic)  # when this process began

    def wall_total(self, now: float | None = None) -> float:
        """Wall seconds over every segment of the run: the earlier ones (as of the checkpoint
        resumed from) and this process's so far."""
        return self.wall_before + (time.monotonic() if now is None else now) - self.segment_start

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint's "progress" (the meter adds the partial-epoch sums to it)."""
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "global_step": self.global_step,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "wall_seconds": round(self.wall_total(), 3),
        }

    def load_state_dict(self, p: dict[str, Any]) -> None:
        """Continue from a checkpoint's "progress" (its partial sums are the meter's).

        `samples` counts this process's samples since it started: it starts again at 0. The
        wall time so far carries on (a checkpoint from before it was kept counts from here).
        """
        self.epoch = int(p["epoch"])
        self.batch = int(p["batch"])
        self.global_step = int(p["global_step"])
        self.samples = 0
        self.best_value = p["best_value"]
        self.best_epoch = p["best_epoch"]
        self.history = list(p["history"])
        wall = p.get("wall_seconds")
        if isinstance(wall, (int, float)) and math.isfinite(wall) and wall >= 0:
            self.wall_before = float(wall)
        else:  # a checkpoint from before it was kept
            self.wall_before = 0.0

    def update_best(self, value: float | None, mode: str, epoch: int) -> bool:
        """Record `value` of the monitored metric after `epoch`; True when it is a new best."""
        if value is None or not math.isfinite(value):
            return False
        better = (
            self.best_value is None
            or (mode == "max" and value > self.best_value)
            or (mode == "min" and value < self.best_value)
        )
        if better:
            self.best_value, self.best_epoch = value, epoch + 1
        return better


def run_summary(
    p: Progress,
    *,
    status: str,
    monitor: str,
    wall: float,
    train_seconds: float,
    precision: str,
    skipped_steps: int,
    nonfinite_skipped: int,
    notes: list[str],
    error: str | None,
) -> RunSummary:
    """What summary.json holds (the front end adds run_dir and the replay command)."""
    summary: RunSummary = {
        "status": status,
        "epochs_completed": len(p.history),
        "best": {"metric": monitor, "value": p.best_value, "epoch": p.best_epoch},
        "final": p.history[-1] if p.history else {},
        "wall_seconds": round(wall, 3),
        "wall_seconds_total": round(p.wall_before + wall, 3),
        "train_seconds": round(train_seconds, 3),
        "samples_per_second": mean_samples_per_second(p.samples, train_seconds),
        "global_step": p.global_step,
        "precision": precision,
        "skipped_steps": int(skipped_steps),
        "nonfinite_skipped": nonfinite_skipped,
    }
    if notes:
        summary["notes"] = list(notes)
    if error:
        summary["error"] = error
    return summary
