"""Run directories: atomic creation, one writer (an OS lock), through real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml
from support.runs import TINY, only_run_dir

from tui_trainer.cli import main
from tui_trainer.rundir import RunDirBusy, RunDirLock, create_run_dir, holder, holder_info

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

HOLD = textwrap.dedent(
    """
    import os, sys, time
    from tui_trainer.rundir import RunDirLock
    lock = RunDirLock.acquire(sys.argv[1])
    child = 0
    if len(sys.argv) > 2:  # leave a forked child behind, like a DataLoader worker
        ready_r, ready_w = os.pipe()
        child = os.fork()
        if child == 0:  # the fork hooks have run by the time fork() returns here
            os.write(ready_w, b"1")
            time.sleep(60)
            os._exit(0)
        os.read(ready_r, 1)  # report only once the child is past its fork hooks
    print("locked", child, flush=True)
    time.sleep(60)
    """
)


def _hold(run_dir: Path, *extra: str) -> subprocess.Popen:
    """A live process holding `run_dir`'s lock (killed by the caller)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir), *extra],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    word, child = proc.stdout.readline().split()
    assert word == "locked"
    proc.child = int(child)  # type: ignore[attr-defined]
    return proc


def _files(run_dir: Path) -> dict[str, bytes]:
    """Every file's bytes except the lock's (what 'nothing written' compares)."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_same_second_runs_get_their_own_directories(tmp_path):
    """Eight processes create run directories with the same timestamp at the same moment."""
    go = tmp_path / "go"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from tui_trainer.rundir import create_run_dir
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        print(create_run_dir(sys.argv[1], "p", stamp="20260101-000000"))
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "runs")],
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for _ in range(8)
    ]
    time.sleep(1.0)
    go.touch()
    made = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(made)) == 8
    names = sorted(Path(m).name for m in made)
    assert names == sorted(["20260101-000000", *[f"20260101-000000-{n}" for n in range(2, 9)]])


def test_two_cli_runs_in_the_same_second_keep_both_results(tmp_path):
    """Two real `run` processes whose clocks read the same second: two complete directories."""
    out = tmp_path / "runs"
    code = (
        "import time; real = time.strftime; "
        "time.strftime = lambda f, *a: '20260101-000000' if f == '%Y%m%d-%H%M%S' else real(f, *a); "
        "from tui_trainer.cli import main; raise SystemExit(main(sys.argv[1:]))"
    )
    argv = ["run", "quickstart", *TINY, "epochs=1", "--out", str(out)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "import sys; " + code, *argv, f"seed={seed}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for seed in (1, 2)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    dirs = sorted(p for p in (out / "quickstart").iterdir())
    assert [d.name for d in dirs] == ["20260101-000000", "20260101-000000-2"]
    seeds = set()
    for d in dirs:
        lines = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
        assert sum(r["event"] == "started" for r in lines) == 1  # one run per directory
        assert json.loads((d / "summary.json").read_text())["status"] == "completed"
        seeds.add(yaml.safe_load((d / "config.yaml").read_text())["seed"])
    assert seeds == {1, 2}


def test_create_run_dir_refuses_an_out_that_cannot_hold_runs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Exception, match="--out: cannot create run directories under"):
        create_run_dir(blocker, "p")


def test_holder_tells_live_from_dead_and_the_lock_dies_with_its_process(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert holder(run_dir) is None  # no lock file yet
    proc = _hold(run_dir)
    try:
        info = holder_info(run_dir)
        assert info is not None and info.pid == proc.pid and info.host
        assert holder(run_dir) == proc.pid
        with pytest.raises(RunDirBusy, match=rf"pid {proc.pid} on .+python"):
            RunDirLock.acquire(run_dir)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert holder(run_dir) is None  # a crash never leaves it locked
    with RunDirLock.acquire(run_dir) as lock:
        assert holder(run_dir) == os.getpid() and lock.held
    assert holder(run_dir) is None


def test_a_forked_child_does_not_keep_a_dead_owner_s_lock(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    proc = _hold(run_dir, "fork")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        os.kill(proc.child, 0)  # the forked child is still alive ...
        assert holder(run_dir) is None  # ... but holds nothing
    finally:
        os.kill(proc.child, signal.SIGKILL)


def test_resume_of_a_directory_held_by_a_live_process_changes_nothing(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "epochs=1", "--out", str(out)]) == 0
    run_dir = only_run_dir(out)
    before = _files(run_dir)
    proc = _hold(run_dir)
    try:
        capsys.readouterr()
        assert main(["run", "--resume", str(run_dir), "epochs=2"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"pid {proc.pid}" in err and "being written by" in err
        assert _files(run_dir) == before  # nothing written
        assert main(["replay", str(run_dir), "--out", str(out)]) == 0  # a reader: a new dir
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_a_live_run_refuses_a_second_writer_then_resumes_after_a_crash(tmp_path):
    """A real training process; a resume of it (and two at once after it dies)."""
    out = tmp_path / "runs"
    cli = [sys.executable, "-m", "tui_trainer", "run"]
    live = subprocess.Popen(
        [*cli, "quickstart", *TINY, "epochs=1000", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            dirs = list(out.glob("*/*/checkpoints/last.pt"))
            if dirs:
                break
            time.sleep(0.2)
        run_dir = dirs[0].parent.parent
        busy = subprocess.run(
            [*cli, "--resume", str(run_dir)], capture_output=True, text=True, env=ENV, timeout=120
        )
        assert busy.returncode == 2
        assert f"pid {live.pid}" in busy.stderr and "tui-trainer run quickstart" in busy.stderr
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()
    assert holder(run_dir) is None
    started = (run_dir / "metrics.jsonl").read_text().count('"event": "started"')
    done = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["progress"]["epoch"]
    # Two resumes at once: one trains one more epoch; the other is refused, while the first
    # runs (naming it) or after it finished (nothing left to do): exit 2 either way.
    both = [
        subprocess.Popen(
            [*cli, "--resume", str(run_dir), f"epochs={done + 1}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for _ in range(2)
    ]
    results = [(p.communicate(timeout=300)[1], p.returncode) for p in both]
    assert sorted(code for _, code in results) == [0, 2], results
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # never interleaved
    assert sum('"event": "started"' in line for line in lines) == started + 1
    refused = next(err for err, code in results if code == 2)
    assert "being written by" in refused or "has finished" in refused
