"""SIGKILL a run with periodic checkpoints; `--resume RUN_DIR` takes the newest one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from support.procs import kill_group, spawn_group
from support.runs import only_run_dir

from tui_trainer.cli import main
from tui_trainer.engine import latest

ROOT = Path(__file__).resolve().parents[2]
RUN = ["epochs=60", "device=cpu", "checkpoint.every_steps=7", "progress.interval=0.05"]


def _periodic_newer_than_last(checkpoints: Path) -> int | None:
    """The global step of a periodic checkpoint newer than last.pt, once there is one."""
    found = latest.candidates(checkpoints)
    last = next((c for c in found if c.path.name == "last.pt"), None)
    periodic = [c for c in found if c.path.name.startswith("step_")]
    if last is None or not periodic or periodic[0].global_step <= last.global_step:
        return None
    return periodic[0].global_step


def test_resume_after_sigkill_starts_at_the_newer_periodic_checkpoint(tmp_path, capsys):
    out = tmp_path / "runs"
    proc = spawn_group(
        [sys.executable, "-m", "tui_trainer", "run", "quickstart", *RUN, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            dirs = list(out.glob("quickstart/*/checkpoints"))
            if dirs and _periodic_newer_than_last(dirs[0]):
                break
            time.sleep(0.02)
    finally:
        kill_group(proc)  # SIGKILL: nothing is saved on the way out
    run_dir = only_run_dir(out)
    step = _periodic_newer_than_last(run_dir / "checkpoints")  # what is on disk after the kill
    assert step is not None
    periodic = run_dir / "checkpoints" / f"step_{step:08d}.pt"
    epoch = latest.read_position(periodic).epoch  # the epoch it was saved in (0-based)
    capsys.readouterr()
    # Finish that epoch only: the resume trains from `step`, not from last.pt's position.
    assert main(["run", "--resume", str(run_dir), f"epochs={epoch + 1}"]) == 0
    text = capsys.readouterr().out
    assert f"resuming from checkpoints/{periodic.name}" in text
    resumed = text.split("resumed from ", 1)[1].splitlines()[0]
    assert resumed.startswith(f"{periodic}: ") and f", step {step}, " in resumed
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == epoch + 1
