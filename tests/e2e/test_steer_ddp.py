"""Steering a 2-process gloo run from `ctl`: every rank applies each change at the same step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.procs import kill_group, spawn_group

from tui_trainer.launch import free_port
from tui_trainer.remote.client import request
from tui_trainer.runlog.reader import read_records

ROOT = Path(__file__).resolve().parents[2]


def ctl(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", "ctl", str(run_dir), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def wait_until(check, timeout: float = 300.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.1)


def run_dirs(out: Path) -> list[Path]:
    return [p for p in out.glob("*/*") if (p / "metrics.jsonl").is_file()]


@pytest.mark.slow
def test_a_steer_reaches_every_rank_at_the_same_step(tmp_path: Path) -> None:
    out, log = tmp_path / "runs", tmp_path / "steer.log"
    env = {**os.environ, "STEER_LOG": str(log), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        str(ROOT / "tests" / "e2e" / "steer_ranks.py"),
        "run",
        "quickstart",
        "epochs=300",
        "device=cpu",
        "control_every=3",
        "progress.interval=0.05",
        f"--out={out}",
    ]
    proc = spawn_group(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: run_dirs(out), what="the run directory")
        (run_dir,) = run_dirs(out)
        wait_until(lambda: any(r["event"] == "step" for r in read_records(run_dir)), what="steps")
        assert ctl(run_dir, "pause").returncode == 0
        wait_until(lambda: request(run_dir, "status", timeout=30)["state"] == "paused")
        last = request(run_dir, "status", timeout=30)["epoch"] + 1  # it ends after that one
        for change in ("lr=*0.5", "validate", f"epochs={last}"):
            done = ctl(run_dir, change)
            assert done.returncode == 0, done.stderr
        refused = ctl(run_dir, "unfreeze")
        assert refused.returncode == 2 and "nothing is frozen" in refused.stderr
        wait_until(lambda: _steers(run_dir) == 3, 120, "applied while paused")
        assert ctl(run_dir, "resume").returncode == 0
        _, stderr = proc.communicate(timeout=400)
    finally:
        kill_group(proc)  # the ranks too, whatever happened (they exited already when it passed)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    ranks = [
        [json.loads(line) for line in Path(f"{log}.{r}").read_text().splitlines()] for r in (0, 1)
    ]
    assert ranks[0] == ranks[1]  # the same changes, steps, LRs, length, and final weights
    applied = [r for r in ranks[0] if "change" in r]
    assert [r["change"] for r in applied] == ["lr=*0.5", "validate", f"epochs={last}"]
    assert len({r["step"] for r in applied}) == 1 and all(r["ok"] for r in applied)
    step = applied[0]["step"]
    assert step % 3 == 0  # at a control boundary (control_every=3)
    records = read_records(run_dir)
    assert [(r["global_step"], r["change"]) for r in records if r["event"] == "steer"] == [
        (step, "lr=*0.5"),
        (step, "validate"),
        (step, f"epochs={last}"),
    ]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == last


def _steers(run_dir: Path) -> int:
    return sum(1 for r in read_records(run_dir) if r["event"] == "steer")
