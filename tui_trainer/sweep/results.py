"""A trial's result read from its run directory: the best monitored value and its epoch.

`runlog.glance` reads a few KB (summary.json, the tail back to the last epoch line); its best is
the run's own monitor's. A trial whose config monitors another metric than its sweep (an
override of `checkpoint.monitor`) is read from its epoch lines instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui_trainer.errors import UserError
from tui_trainer.runlog.check import finite
from tui_trainer.runlog.glance import glance
from tui_trainer.runlog.layout import METRICS
from tui_trainer.runlog.lines import scan


@dataclass(frozen=True)
class Result:
    """What a trial's run directory says so far."""

    value: float | None
    """The best value of the sweep's metric (None: no epoch validated it yet)."""
    epoch: int | None
    """The epoch that value is from."""
    epochs_done: int
    epochs: int
    status: str
    """The run's status (`runlog.Status`: `died` for a live run, as a glance cannot tell)."""
    problem: str | None = None
    """Why the run directory could not be read (one line), if it could not."""


def finite_float(value: object) -> float | None:
    """`value` as a float when it is a finite number (`runlog.check.finite`), else None."""
    return float(value) if finite(value) else None


def read_result(run_dir: Path, monitor: str, mode: str) -> Result:
    """The trial's result (see the module docstring); never raises for a damaged run."""
    if not (run_dir / METRICS).exists():  # not started yet, or failed before its first line
        return Result(None, None, 0, 0, "unknown")
    try:
        g = glance(run_dir)
    except (UserError, OSError) as exc:
        return Result(None, None, 0, 0, "unknown", problem=str(exc))
    name, value, epoch = g.best
    if name == monitor:
        best = finite_float(value)
        return Result(best, epoch if best is not None else None, g.epoch, g.epochs, str(g.status))
    value_at = _best_from_lines(run_dir, monitor, mode)
    best, at = value_at if value_at else (None, None)
    return Result(best, at, g.epoch, g.epochs, str(g.status))


def _best_from_lines(run_dir: Path, monitor: str, mode: str) -> tuple[float, int] | None:
    try:
        records = scan(run_dir / METRICS).records
    except OSError:
        return None
    found: tuple[float, int] | None = None
    for record in records:
        value = finite_float(record.get(monitor))
        if record.get("event") != "epoch" or value is None:
            continue
        if found is None or (value > found[0] if mode == "max" else value < found[0]):
            found = (value, int(record.get("epoch") or 0))
    return found


def trial_value(run_dir: Path, monitor: str, mode: str = "max") -> float | None:
    """The best monitored value of a trial's run (None: none yet, or unreadable)."""
    return read_result(run_dir, monitor, mode).value
