"""What queue tests share: ending whatever a test left running against its private database."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import replace
from pathlib import Path

from tui_trainer.queue.daemon import live_pid
from tui_trainer.queue.paths import QueuePaths
from tui_trainer.queue.store import QUEUED, RUNNING, Job, QueueStore


def kill_queue(db: Path) -> None:
    """SIGKILL the scheduler of the queue at `db` and the process group of each running job."""
    pid = live_pid(QueuePaths(db))
    if pid and pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if db.exists():
        with QueueStore(db) as store:
            for job in store.jobs([RUNNING]):
                if job.pid:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(job.pid, signal.SIGKILL)


def make_job(**fields: object) -> Job:
    """A queue Job for pure tests: a queued one-GPU job of preset "p", changed by `fields`."""
    base = Job(
        id=1,
        state=QUEUED,
        preset="p",
        overrides=[],
        out="/r",
        gpus=1,
        per_gpu=1,
        priority=0,
        position=1.0,
        run_dir=None,
        gpu_ids=[],
        pid=None,
        attempts=0,
        exit_code=None,
        error=None,
        sweep=None,
        trial=None,
        created=0.0,
        started=None,
        ended=None,
        peak_mem_mb=None,
    )
    return replace(base, **fields)  # type: ignore[arg-type]  # test helper: fields by keyword
