"""A hang-up leaves the terminal only: output redirected to a file keeps arriving there."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.procs import kill_group, spawn_group

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 8  # the hang-up comes during the first: the rest are trained with no terminal
RUN = [f"epochs={EPOCHS}", "data.batch_size=64", "device=cpu", "progress.plain_interval=0.2"]


def _start_logged(out: Path, log: Path, extra: list[str]) -> tuple[subprocess.Popen, int]:
    """`tui-trainer run ... > log 2>&1` typed at a terminal: stdin is the terminal."""
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "tui_trainer", "run", "quickstart", *RUN, *extra]
    with open(log, "wb") as fh:
        proc = spawn_group(
            [*cmd, "--out", str(out)],
            stdin=slave,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    os.close(slave)
    deadline = time.monotonic() + 120
    while f"epoch 1/{EPOCHS}" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc, master


def test_after_a_hang_up_the_log_file_keeps_growing_to_the_final_lines(tmp_path):
    log = tmp_path / "log"
    proc, master = _start_logged(tmp_path / "runs", log, [])
    try:
        assert proc.poll() is None
        os.close(master)  # the terminal goes away...
        proc.send_signal(signal.SIGHUP)  # ...and the shell's hang-up reaches the run
        size_at_hangup = log.stat().st_size
        assert proc.wait(timeout=300) == 0
    finally:
        kill_group(proc)
    text = log.read_text(errors="replace")
    assert log.stat().st_size > size_at_hangup
    assert f"epoch {EPOCHS}/{EPOCHS}" in text
    assert f"run completed: {EPOCHS} epoch(s)" in text
    assert "replay: tui-trainer replay " in text  # the run's very last lines


def test_a_hang_up_with_on_hangup_stop_still_writes_its_last_lines_to_the_log(tmp_path):
    log = tmp_path / "log"
    proc, master = _start_logged(tmp_path / "runs", log, ["on_hangup=stop"])
    try:
        os.close(master)
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=300) == 129
    finally:
        kill_group(proc)
    text = log.read_text(errors="replace")
    assert "run interrupted" in text
    assert "resume: tui-trainer run --resume " in text


def test_detach_moves_only_the_terminal_streams(tmp_path):
    """stdin on a hung-up terminal (isatty says False then), stdout a file, stderr a pipe."""
    out = tmp_path / "out.txt"
    probe = (
        "import os, sys\n"
        "from tui_trainer.terminal import detach_from_terminal\n"
        "moved = detach_from_terminal()\n"
        "os.write(1, b'still here\\n')\n"
        "os.write(2, repr(moved).encode())\n"
    )
    master, slave = pty.openpty()
    os.close(master)  # hung up before the probe even starts
    with open(out, "wb") as fh:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            stdin=slave,
            stdout=fh,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=60,
        )
    os.close(slave)
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode() == "[0]"
    assert out.read_text() == "still here\n"
