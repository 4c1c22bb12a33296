"""The run record: what a run directory holds and the one way to read it (no torch, no engine).

- `layout`: the file names of a run directory and the kinds of metrics.jsonl record;
- `status`: `Status`, how a run ended (or that it is live, or `died`);
- `check`: what each field read from a run must be (a damaged value is a damaged line or file);
- `lines`: metrics.jsonl whole or windowed, at a cost flat in the run's length;
- `reader`: `read_run` (strict or tolerant) → `RunRecord`; config.yaml through the bounded loader;
- `glance`: the few KB a listing (`runs`, the runs browser) reads per run.
"""

from __future__ import annotations

from tui_trainer.runlog.layout import CONFIG, METRICS, SUMMARY, is_run_dir
from tui_trainer.runlog.reader import (
    Damaged,
    RunRecord,
    check_run,
    default_monitor,
    read_config,
    read_run,
    read_runs,
    read_summary,
)
from tui_trainer.runlog.status import Status
from tui_trainer.runlog.summary import RunSummary

__all__ = [
    "CONFIG",
    "METRICS",
    "SUMMARY",
    "Damaged",
    "RunRecord",
    "RunSummary",
    "Status",
    "check_run",
    "default_monitor",
    "is_run_dir",
    "read_config",
    "read_run",
    "read_runs",
    "read_summary",
]
