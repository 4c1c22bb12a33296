"""Real signals to a real headless run in a child process."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from support.runs import only_run_dir

ROOT = Path(__file__).resolve().parents[2]
LONG = ["epochs=400", "device=cpu", "progress.plain_interval=0.2"]


def _start(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "run", "quickstart", *LONG, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until training is under way
        if line.startswith("epoch 1/400"):
            break
    return proc


def _interrupted(out: Path) -> dict:
    run_dir = only_run_dir(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["progress"]["global_step"] > 0
    return state


def test_sigterm_checkpoints_and_exits_143(tmp_path):
    proc = _start(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "SIGTERM: saving a checkpoint" in err
    _interrupted(tmp_path)


def test_sigint_checkpoints_mid_epoch_and_exits_130(tmp_path):
    proc = _start(tmp_path)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Ctrl-C again to exit at once" in err
    state = _interrupted(tmp_path)
    assert state["progress"]["batch"] > 0 or state["progress"]["epoch"] > 0


def test_second_sigint_exits_at_once(tmp_path):
    proc = _start(tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    summary = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())
    assert summary["status"] == "interrupted"


def test_sigusr1_saves_a_checkpoint_and_continues(tmp_path):
    proc = _start(tmp_path)
    proc.send_signal(signal.SIGUSR1)
    assert proc.stdout is not None
    saw = False
    for line in proc.stdout:
        if line.startswith("checkpoint saved (request):"):
            saw = True
            break
    assert saw
    assert proc.poll() is None  # still training
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143


def test_sighup_with_on_hangup_stop(tmp_path):
    """`on_hangup=stop`: the SSH session drops, the pty closes, the kernel sends SIGHUP."""
    pid, master = pty.fork()
    if pid == 0:  # child: a headless run on a real terminal
        os.chdir(ROOT)
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "tui_trainer",
                "run",
                "quickstart",
                *LONG,
                "on_hangup=stop",
                "--out",
                str(tmp_path),
            ],
        )
    seen = b""
    deadline = time.monotonic() + 60
    while b"epoch 1/400" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
    assert b"epoch 1/400" in seen
    os.close(master)  # hang up
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 129
    _interrupted(tmp_path)
