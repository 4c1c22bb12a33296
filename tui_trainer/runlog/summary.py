"""What summary.json holds: one typed definition for its writer, its readers and the test fake.

The engine builds it at a run's end (`engine.progress.run_summary`, then the toggles' and the
front end's keys join it); `RunFinished.summary` carries it and `sinks.files` writes it.
Readers (`runlog.read_summary`, `runs`, the browser, `compare`, the console's summary screen
and next-step lines) get it back from JSON, where any key may be missing in an older or a
damaged run: read optional keys with `.get`.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict


class Best(TypedDict):
    """The best epoch by the monitored metric (`value`/`epoch` None before one was judged)."""

    metric: str
    value: float | None
    epoch: int | None


class EarlyStop(TypedDict):
    """Why early stopping ended the run."""

    metric: str
    best: float
    best_epoch: int
    waited: int
    message: str


class _Always(TypedDict):
    status: str  # a `runlog.Status` name: completed | stopped | interrupted | failed


class RunSummary(_Always, total=False):
    """summary.json: written at the end however the run ended (docs/headless.md).

    Only `status` is always there (a base class says so: `Required[...]` is not seen under
    `from __future__ import annotations` on Python 3.11)."""

    epochs_completed: int
    best: Best
    final: dict[str, Any]  # the last epoch's record (metrics and epoch_seconds)
    wall_seconds: float  # this process's (a resumed run: from its resume)
    wall_seconds_total: float  # every segment's: a resumed run's earlier ones included
    train_seconds: float  # training time: pauses, validation and checkpoint saves left out
    samples_per_second: float | None
    global_step: int
    precision: str
    skipped_steps: int  # optimizer steps GradScaler skipped
    nonfinite_skipped: int
    notes: list[str]
    error: str  # failed runs: the reason
    # each part's share of the training time ("data", "copy", "compute", "optimizer",
    # "other": runlog.time_parts), over every segment of a resumed run; a script run's has
    # "data" and "other" only
    time_breakdown: dict[str, float]
    # the toggles (engine.toggles.Toggles.summary)
    evaluated_weights: str
    compile: str
    early_stop: EarlyStop
    # added by the front end and the run directory writer
    run_dir: str
    replay_command: str
    resumed_from: str
    checkpoint_missing: str
    sink_errors: list[str]
    alerts: dict[str, Any]  # the watchdogs' alerts: count, last (rule, message, time)
    traceback: str  # the file, in the run directory, that holds a failed run's traceback
    # the headless runner (`run --run-dir`, torchrun restarts, Slurm)
    signal: str  # the signal that stopped the run (SIGTERM, SIGUSR1, ...)
    requeue: bool  # SIGUSR1 in a Slurm job: the run wants to be requeued and continued
    rerun_command: str  # the command that continues the run (`run ... --run-dir DIR`)
    restarts: int  # torchrun restarts this run directory has seen


def total_wall_seconds(summary: RunSummary | None) -> float | None:
    """A run's wall time over all its segments (`wall_seconds_total`; an older summary's
    `wall_seconds`), or None; what listings and `compare` show."""
    if summary is None:
        return None
    for value in (summary.get("wall_seconds_total"), summary.get("wall_seconds")):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None
