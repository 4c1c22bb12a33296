"""The exact commands that continue or repeat a finished run, for every front end.

One rule for the console's summary, the text printed after the console exits and the headless
runner's last lines: a run that stopped, was interrupted or failed and left `checkpoints/last.pt`
can be resumed; a completed one can be extended with more epochs; any run can be replayed.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

CONTINUABLE = frozenset({"stopped", "interrupted", "failed"})
"""End states a resume carries on from (from the last checkpoint)."""

TRACEBACK_FILE = "traceback.txt"
"""A failed run's full traceback, in its run directory (see `sinks.files.RunDirWriter`)."""


def _program(console: bool) -> str:
    return "tui-trainer" if console else "tui-trainer run"


def replay_command(summary: dict[str, Any]) -> str | None:
    """The command that re-runs this run's saved config headless, if the run has a directory."""
    if summary.get("replay_command"):
        return str(summary["replay_command"])
    run_dir = summary.get("run_dir")
    return f"tui-trainer replay {shlex.quote(str(run_dir))}" if run_dir else None


def resume_command(summary: dict[str, Any], *, console: bool = False) -> str | None:
    """The command that continues this run, or None when there is nothing to continue from.

    `console` gives the command that continues in the console (``tui-trainer --resume``), else
    headless (``tui-trainer run --resume``). A completed run is extended: its command asks for
    ten more epochs (the number `check_resumable` suggests too; change it as needed).
    """
    run_dir = summary.get("run_dir")
    if not run_dir or not (Path(run_dir) / "checkpoints" / "last.pt").is_file():
        return None
    status = summary.get("status")
    command = f"{_program(console)} --resume {shlex.quote(str(run_dir))}"
    if status in CONTINUABLE:
        return command
    if status == "completed":
        epochs = summary.get("epochs_completed")
        more = epochs + 10 if isinstance(epochs, int) else "N"
        return f"{command} epochs={more}"
    return None


def traceback_path(summary: dict[str, Any]) -> Path | None:
    """The failed run's traceback file, if it was written."""
    run_dir = summary.get("run_dir")
    name = summary.get("traceback")
    if not run_dir or not name:
        return None
    path = Path(run_dir) / str(name)
    return path if path.is_file() else None


def next_step_lines(summary: dict[str, Any], *, console: bool = False) -> list[str]:
    """``run directory: …`` / ``traceback: …`` / ``rerun: …`` / ``resume: …`` / ``replay: …``
    lines (``rerun``: a `--run-dir` run that can continue, by the same command).

    `console`: the resume line continues in the console, and a second line gives the headless
    command.
    """
    run_dir = summary.get("run_dir")
    if not run_dir:
        return []
    lines = [f"run directory: {run_dir}"]
    trace = traceback_path(summary)
    if trace is not None:
        lines.append(f"traceback: {trace}")
    rerun = summary.get("rerun_command")  # `run --run-dir`: the same command continues
    if rerun and summary.get("status") in ("interrupted", "failed"):
        requeue = " (or requeue the Slurm job)" if summary.get("requeue") else ""
        lines.append(f"rerun: {rerun}{requeue}")
    resume = resume_command(summary, console=console)
    if resume:
        label = "extend" if summary.get("status") == "completed" else "resume"
        lines.append(f"{label}: {resume}")
        if console:  # the same, without the console
            lines.append(f"{' ' * len(label)}  or headless: {resume_command(summary)}")
    replay = replay_command(summary)
    if replay:
        lines.append(f"replay: {replay}")
    return lines
