"""`find-lr --nproc 2`: two processes (gloo on CPU) run the range test together; rank 0 decides,
prints once, and every rank ends cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_find_lr_in_two_processes_prints_rank_0s_finding_once(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tui_trainer", "find-lr", "quickstart", "device=cpu"]
    cmd += ["--steps", "12", "--start", "1e-4", "--json", "--nproc", "2"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout  # rank 0 alone prints
    finding = json.loads(lines[0])
    assert finding["steps"] == 12 and finding["start"] == 1e-4
    assert len(finding["losses"]) >= 3 and finding["suggested_lr"] > 0
    assert not (tmp_path / "runs").exists()
