"""Subprocesses in their own session, so a failing test never leaves training processes behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def spawn_group(cmd: list[str], **kwargs: Any) -> subprocess.Popen:
    """`subprocess.Popen` in a new session, so `kill_group` also ends what it started (torchrun's
    ranks): a failing or timed-out test never leaves training processes behind."""
    return subprocess.Popen(cmd, start_new_session=True, **kwargs)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL `proc` and everything in its session, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
