"""Leaving a terminal that hung up (the SSH connection dropped): both front ends use this."""

from __future__ import annotations

import contextlib
import os


def detach_from_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null.

    After a hang-up every write to the terminal fails: a print would raise and Textual's output
    thread would die and stall the app's exit. Reads would fail the same way.
    """
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)
