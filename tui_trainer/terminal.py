"""Leaving a terminal that hung up (the SSH connection dropped): both front ends use this."""

from __future__ import annotations

import contextlib
import os


def detach_from_terminal() -> None:
    """Point stdout and stderr at /dev/null, and stdin at a pipe that never has data.

    After a hang-up every write to the terminal fails: a print would raise and Textual's output
    thread would die and stall the app's exit. Reads would fail the same way. Not /dev/null for
    stdin: always "readable" at end of file, it would make Textual's input thread spin and slow
    the training that goes on (`on_hangup: continue`).
    """
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)
    quiet, keep = os.pipe()
    with contextlib.suppress(OSError):
        os.dup2(quiet, 0)
    os.close(quiet)
    _QUIET_INPUT.append(keep)  # open until exit: the read end must not see end of file


_QUIET_INPUT: list[int] = []


def release_quiet_input() -> None:
    """At exit: end the quiet pipe, so a reader blocked on stdin sees end of file and finishes."""
    while _QUIET_INPUT:
        with contextlib.suppress(OSError):
            os.close(_QUIET_INPUT.pop())
