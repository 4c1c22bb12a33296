"""Leaving a terminal that hung up (the SSH connection dropped): both front ends use this.

Only the standard streams that are a terminal are left: output redirected to a file or a pipe
(`run ... > log 2>&1`) keeps flowing there after the hang-up.
"""

from __future__ import annotations

import contextlib
import os
import stat


def is_terminal(fd: int) -> bool:
    """Whether `fd` is (or was, before a hang-up) a terminal.

    After a hang-up the kernel answers a terminal's `isatty` with EIO, so a character device
    other than /dev/null counts as one too. A regular file, a pipe, a socket or /dev/null is
    not; a closed descriptor is not either.
    """
    if os.isatty(fd):
        return True
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    if not stat.S_ISCHR(st.st_mode):
        return False
    try:
        null = os.stat(os.devnull)
    except OSError:
        return True
    return st.st_rdev != null.st_rdev


def detach_from_terminal() -> list[int]:
    """Point the standard streams that are terminals away from it; returns the fds moved.

    Output (1, 2) goes to /dev/null, input (0) to a pipe that never has data. After a hang-up
    every write to the terminal fails: a print would raise and Textual's output thread would die
    and stall the app's exit. Reads would fail the same way. Not /dev/null for stdin: always
    "readable" at end of file, it would make Textual's input thread spin and slow the training
    that goes on (`on_hangup: continue`). A stream redirected to a file or a pipe is kept.
    """
    moved = [fd for fd in (0, 1, 2) if is_terminal(fd)]
    outputs = [fd for fd in moved if fd != 0]
    if outputs:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in outputs:
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
        os.close(null)
    if 0 in moved:
        quiet, keep = os.pipe()
        with contextlib.suppress(OSError):
            os.dup2(quiet, 0)
        os.close(quiet)
        _QUIET_INPUT.append(keep)  # open until exit: the read end must not see end of file
    return moved


_QUIET_INPUT: list[int] = []


def release_quiet_input() -> None:
    """At exit: end the quiet pipe, so a reader blocked on stdin sees end of file and finishes."""
    while _QUIET_INPUT:
        with contextlib.suppress(OSError):
            os.close(_QUIET_INPUT.pop())
