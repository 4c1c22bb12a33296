"""Who the live scheduler is: read from the lock it holds, never from an earlier one's pid file."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from tui_trainer.queue.paths import QueuePaths, live_pid


def test_the_holder_of_the_lock_is_named_even_beside_a_stale_pid_file(tmp_path: Path) -> None:
    paths = QueuePaths(tmp_path / "queue.db")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    paths.pid.write_text(dead.stdout)  # a scheduler SIGKILLed: its pid file stays behind
    assert live_pid(paths) is None  # nobody holds the lock
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new scheduler, before its pid file
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        assert live_pid(paths) == os.getpid()
    finally:
        os.close(fd)
    assert live_pid(paths) is None
