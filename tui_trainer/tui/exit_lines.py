"""What the console prints after it exits: how the last run ended, a watched run left."""

from __future__ import annotations

import shlex
import sys
from typing import TextIO

from tui_trainer.next_steps import next_step_lines
from tui_trainer.runlog.events import RunFinished


def print_left_running(run_dir: str | None, file: TextIO | None = None) -> None:
    """After leaving a watched run that goes on: say so, and how to attach again."""
    if run_dir is not None:
        again = f"tui-trainer watch {shlex.quote(run_dir)}"
        print(
            f"tui-trainer: left {run_dir}; the run goes on. Re-attach: {again}",
            file=file or sys.stdout,
            flush=True,
        )


def print_next_steps(result: RunFinished | None, file: TextIO | None = None) -> None:
    """After the console exits: how the last run ended and the commands that continue it."""
    if result is None or not result.summary.get("run_dir"):
        return
    summary = {"status": result.status, **result.summary}
    lines = [f"tui-trainer: run {result.status}", *next_step_lines(summary, console=True)]
    print("\n".join(lines), file=file or sys.stdout, flush=True)
