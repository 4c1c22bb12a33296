"""What a run directory holds: its file names and the kinds of record metrics.jsonl carries.

The contract between whatever trains (the engine, a user's own loop) and whatever reads (`runs`,
the runs browser, `compare`, `watch`). Plain names only: no torch, no engine, no Textual.
"""

from __future__ import annotations

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

KEPT = frozenset(
    {
        "started",
        "epoch",
        "lr_plan",
        "steer",
        "checkpoint",
        "config",
        "paused",
        "resumed",
        "finished",
    }
)
"""Records a watcher must never miss (a slow one re-reads them from metrics.jsonl)."""

EPOCH_FIELDS = frozenset(
    {"event", "time", "epoch", "is_best", "epochs", "best_metric", "best_value", "best_epoch"}
)
"""The keys of an epoch record that are bookkeeping, not metrics (everything else is a metric)."""

NOT_METRICS = EPOCH_FIELDS | {"lr", "epoch_seconds"}
"""Keys of an epoch line that are not metrics to compare."""


def is_run_dir(path: Path) -> bool:
    """A directory a run wrote (it has config.yaml and metrics.jsonl)."""
    return (path / CONFIG).is_file() and (path / METRICS).is_file()
