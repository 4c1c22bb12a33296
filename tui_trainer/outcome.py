"""The exit code of a finished run: one rule for the headless runner and the console.

0 completed or stopped on request; 1 the run failed, or ended without its weights on disk (a
checkpoint could not be written: the run's status is then "failed"); 128+N after signal N (a
checkpoint was saved first). docs/reliability.md: "Exit codes"; bad input (2) never reaches a run.
"""

from __future__ import annotations


def exit_code(status: str | None, signal: int | None = None) -> int:
    """The process exit code for a run that ended with `status` (None: no run at all).

    A failure is 1 even when a signal came too; otherwise a signal gives 128+N.
    """
    if status == "failed":
        return 1
    if signal:
        return 128 + signal
    return 0
