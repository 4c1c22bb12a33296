"""What a job's process and run directory say: alive and ours, started, how it ended,
whether `run --run-dir` can take it up again."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil

from tui_trainer.queue.store import DONE, FAILED, PRUNED, STOPPED
from tui_trainer.runlog.layout import METRICS
from tui_trainer.runlog.reader import Damaged, read_summary

FIRST_STEP_BYTES = 256 * 1024
"""How much of metrics.jsonl is read to see that a run took its first step."""
ATTEMPT_MARK = "=== attempt"
"""The line the scheduler writes into a job's log before each attempt's output."""


def is_our_run(pid: int | None, run_dir: str | None) -> bool:
    """Whether `pid` is alive and is the run of `run_dir` (not a reused pid)."""
    if pid is None or run_dir is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return run_dir in proc.cmdline()
    except psutil.Error:
        return False


def last_line(path: Path, limit: int = 8192) -> str | None:
    """The last non-empty line of a log (its one-line error, usually)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - limit))
            lines = [x.strip() for x in fh.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return None
    lines = [x for x in lines if x and not x.startswith(ATTEMPT_MARK)]
    return lines[-1][:300] if lines else None


def has_first_step(run_dir: str) -> bool:
    try:
        with open(Path(run_dir) / METRICS, "rb") as fh:
            head = fh.read(FIRST_STEP_BYTES)
    except OSError:
        return False
    return b'"event": "step"' in head or b'"event": "epoch"' in head


def ended_as(run_dir: str | None) -> tuple[str, str | None] | None:
    """How the run in `run_dir` ended by its summary.json: (job state, error), or None when it
    has no final summary (still running, killed, or never started)."""
    if run_dir is None:
        return None
    try:
        summary = read_summary(Path(run_dir))
    except Damaged as exc:
        return FAILED, str(exc)
    if summary is None:
        return None
    status = str(summary.get("status"))
    error = summary.get("error")
    if status == "completed":
        return DONE, None
    if status in ("stopped", "interrupted"):
        return STOPPED, None
    if status == "pruned":
        return PRUNED, None
    return FAILED, str(error) if error else f"the run ended {status}"


def interrupted(run_dir: str | None) -> bool:
    """The run's summary says `interrupted` (a signal ended it; it can be continued)."""
    with contextlib.suppress(Damaged):
        summary = read_summary(Path(run_dir)) if run_dir else None
        return summary is not None and summary.get("status") == "interrupted"
    return False


def resumable(run_dir: str | None) -> bool:
    """A run directory `run --run-dir` can take up again: one with a checkpoint (continued
    from it), one whose run died before its first (started again there, its files kept in
    `earlier-N/`), or one not made yet; not a file in the way."""
    if run_dir is None:
        return False
    path = Path(run_dir)
    return path.is_dir() or not path.exists()
