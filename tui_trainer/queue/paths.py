"""The files beside the queue database: the scheduler's lock, pid file, wake-up FIFO and logs.

Everything is named after the database (`queue.db` → `queue.db.lock`, ...), so a second database
(`TUI_TRAINER_QUEUE_DB`, as the tests use) has its own scheduler.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class QueuePaths:
    """The scheduler's files for the queue database `db`."""

    db: Path

    @property
    def lock(self) -> Path:
        """Held (flock) by the one live scheduler."""
        return self.db.with_name(self.db.name + ".lock")

    @property
    def pid(self) -> Path:
        """The live scheduler's pid (written after it took the lock)."""
        return self.db.with_name(self.db.name + ".pid")

    @property
    def wake(self) -> Path:
        """A FIFO: a byte written here wakes the scheduler at once (`add`, `release`, ...)."""
        return self.db.with_name(self.db.name + ".wake")

    @property
    def log(self) -> Path:
        """The scheduler's own log (what it started, adopted, resumed; its errors)."""
        return self.db.with_name(self.db.name + ".log")

    @property
    def job_logs(self) -> Path:
        """Folder of the jobs' output (stdout and stderr of `tui-trainer run`)."""
        return self.db.with_name(self.db.name + ".jobs")

    def job_log(self, job_id: int) -> Path:
        """Job `job_id`'s output (appended to by each attempt)."""
        return self.job_logs / f"{job_id}.log"


def wake(paths: QueuePaths) -> None:
    """Wake the scheduler if one is listening (never blocks; nothing happens without one)."""
    try:
        if not stat.S_ISFIFO(os.stat(paths.wake).st_mode):
            return
        fd = os.open(paths.wake, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # no FIFO yet, or no reader (ENXIO): no scheduler to wake
        return
    with contextlib.suppress(OSError):
        os.write(fd, b"!")  # a full pipe (EAGAIN) means it is awake already
    os.close(fd)


def live_pid(paths: QueuePaths) -> int | None:
    """The live scheduler's pid (its lock is held), or None when none runs; -1 when one holds
    the lock but its pid cannot be read.

    The scheduler writes its pid into the lock file the moment it holds the lock, so a reader
    never gets an earlier scheduler's pid (the pid file is written later, for people)."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(50):  # the holder writes its pid just after locking
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int(os.pread(fd, 64, 0).split()[0])
                    if _alive(pid):
                        return pid
                time.sleep(0.01)
            return -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0
