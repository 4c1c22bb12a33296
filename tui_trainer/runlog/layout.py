"""What a run directory holds: its file names and the kinds of record metrics.jsonl carries.

The contract between whatever trains (the engine, a user's own loop) and whatever reads (`runs`,
the runs browser, `compare`, `watch`). Plain names only: no torch, no engine, no Textual.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG = "config.yaml"
"""The fully resolved config (steering included); `replay` runs it as is."""
METRICS = "metrics.jsonl"
"""One JSON object per line, each with an `"event"` key."""
METRICS_CSV = "metrics.csv"
"""The epoch lines as a table."""
SUMMARY = "summary.json"
"""Written at the end however the run ended (absent while running, or after a kill)."""
CHECKPOINTS = "checkpoints"
"""`last.pt`, `best.pt` and periodic checkpoints."""
ENDPOINT = ".endpoint"
"""Where a live run's control socket is (written by the run, never trusted as a path)."""
LOCK = ".lock"
"""The one-writer lock."""

STEP = "step"
"""The record of throttled progress, the only kind a slow watcher may miss (and the bulk of a
long run's metrics.jsonl)."""

VALIDATING = "validating"
"""The record of a validation pass's throttled progress (`runlog.events.ValidationProgress`):
progress like `STEP`, which a slow watcher may miss too."""

PROGRESS = frozenset({STEP, VALIDATING})
"""The progress records: coalesced for a slow watcher, never needed from history."""

RESTART = "restart"
"""The record a run directory gets when torchrun restarted its workers (`attempt`, `from`: the
checkpoint continued, `world_size`); summary.json then has `restarts`."""

ALERT = "alert"
"""The record of a watchdog's alert (`runlog.events.Alert`)."""

KEPT = frozenset(
    {
        ALERT,
        "started",
        "epoch",
        "lr_plan",
        "steer",
        "checkpoint",
        "config",
        "paused",
        "resumed",
        "finished",
        "samples",
    }
)
"""Records a watcher must never miss (a slow one re-reads them from metrics.jsonl)."""

EPOCH_FIELDS = frozenset(
    {"event", "time", "epoch", "is_best", "epochs", "best_metric", "best_value", "best_epoch"}
)
"""The keys of an epoch record that are bookkeeping, not metrics (everything else is a metric)."""

RESERVED = EPOCH_FIELDS | {"epoch_seconds"}
"""Keys of an epoch line the run writes itself: never a logged metric's name (a metric named
`epoch` would displace the epoch's number and make the line unreadable)."""

NOT_METRICS = EPOCH_FIELDS | {"lr", "epoch_seconds"}
"""Keys of an epoch line that are not metrics to compare."""


def is_run_dir(path: Path) -> bool:
    """A directory a run wrote (it has config.yaml and metrics.jsonl)."""
    return (path / CONFIG).is_file() and (path / METRICS).is_file()


def find_run_dirs(root: Path, depth: int = 3) -> list[Path]:
    """Run directories under `root` (root itself may be one), at most `depth` levels down,
    sorted. One `scandir` per folder visited (file types come with the listing, no `stat` per
    entry), and nothing inside a run directory is searched: refreshing a list of thousands of
    runs stays cheap."""
    found: list[Path] = []
    level = [str(root)]
    for _ in range(depth + 1):
        below = []
        for folder in level:
            try:
                with os.scandir(folder) as entries:
                    files, dirs = set(), []
                    for entry in entries:
                        if entry.is_dir():
                            dirs.append(entry.path)
                        elif entry.name in (CONFIG, METRICS) and entry.is_file():
                            files.add(entry.name)
            except OSError:
                continue
            if len(files) == 2:
                found.append(Path(folder))
            else:
                below += dirs
        level = below
    return sorted(found)
