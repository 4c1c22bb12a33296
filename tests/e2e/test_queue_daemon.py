"""The real thing: `tui-trainer queue ...` processes, the background scheduler, real tiny runs.

A private queue database per test (`TUI_TRAINER_QUEUE_DB`); whatever a test leaves running (the
scheduler, jobs) is killed at its end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.queues import kill_queue

from tui_trainer.queue.daemon import live_pid
from tui_trainer.queue.paths import QueuePaths
from tui_trainer.queue.store import DB_ENV, DONE, RUNNING, Job, QueueStore
from tui_trainer.remote.client import request

ROOT = Path(__file__).resolve().parents[2]
FAST = ["epochs=1", "data.batch_size=64", "device=cpu", "progress.interval=0.05"]
# Long enough to be killed mid-run after its first epoch's checkpoint (batch 16: 90 steps).
SLOW = ["epochs=3", "data.batch_size=16", "device=cpu", "progress.interval=0.05"]


class Queue:
    """`tui-trainer queue ...` against a private database."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "state" / "queue.db"
        self.out = tmp / "runs"
        self.env = {**os.environ, DB_ENV: str(self.db)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "tui_trainer", "queue", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def add(self, *args: str) -> int:
        return int(self.run("add", "quickstart", *args, "--out", str(self.out)).stdout)

    def job(self, job_id: int) -> Job:
        with QueueStore(self.db) as store:
            return store.get(job_id)

    def until(self, what: Callable[[], bool], timeout: float = 400.0) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            if time.monotonic() > deadline:
                log = QueuePaths(self.db).log
                pytest.fail(f"timed out; scheduler log:\n{log.read_text() if log.exists() else ''}")
            time.sleep(0.1)

    def scheduler(self) -> int | None:
        return live_pid(QueuePaths(self.db))

    def kill_all(self) -> None:
        kill_queue(self.db)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    q = Queue(tmp_path)
    yield q
    q.kill_all()


def _records(run_dir: str | None, event: str) -> list[dict]:
    assert run_dir is not None
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


def _summary(run_dir: str | None) -> dict:
    assert run_dir is not None
    return json.loads((Path(run_dir) / "summary.json").read_text())


def test_two_adds_at_once_start_one_scheduler_and_both_jobs_run(queue: Queue) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui_trainer",
                "queue",
                "add",
                "quickstart",
                *FAST,
                f"seed={seed}",
                "--out",
                str(queue.out),
            ],
            env=queue.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.append(int(out))
    assert sorted(ids) == [1, 2]
    queue.until(lambda: all(queue.job(i).state == DONE for i in ids))
    for i in ids:
        job = queue.job(i)
        assert _summary(job.run_dir)["status"] == "completed"
        assert job.run_dir is not None and Path(job.run_dir).parent == queue.out / "quickstart"
        assert "train_loss" in (Path(job.run_dir) / "output.log").read_text()
    log = QueuePaths(queue.db).log.read_text()
    assert log.count("scheduler started") == 1
    # Each job is an ordinary run: `runs` lists both.
    runs = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "runs", str(queue.out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert runs.stdout.count("completed") == 2
    assert "stopped" in queue.run("stop").stdout
    assert queue.scheduler() is None


def test_scheduler_killed_mid_job_comes_back_adopts_one_and_resumes_the_other(
    queue: Queue,
) -> None:
    queue.run("start", "--cpu-slots", "2")
    killed = queue.add(*SLOW, "seed=1", "epochs=6")  # longer: still mid-run when killed
    survivor = queue.add(*SLOW, "seed=2")
    held: set[int] = set()

    def hold_after_first_epoch() -> bool:
        """Pause each job as soon as its first epoch is saved: both are then mid-run when the
        scheduler dies, however fast this machine trains or however unevenly the two share it
        (a loaded machine once let the survivor finish before the victim's first epoch)."""
        for job_id in (killed, survivor):
            job = queue.job(job_id)
            if job_id in held or job.run_dir is None or job.pid is None:
                continue
            assert job.state == RUNNING, f"job {job_id} ended before it was held: {job.state}"
            saved = (Path(job.run_dir) / "checkpoints" / "last.pt").exists()
            if saved and _records(job.run_dir, "epoch"):
                request(job.run_dir, "pause")
                held.add(job_id)
        return len(held) == 2

    queue.until(hold_after_first_epoch)
    victim_dir, survivor_dir = queue.job(killed).run_dir, queue.job(survivor).run_dir
    assert victim_dir is not None and survivor_dir is not None
    for run_dir in (victim_dir, survivor_dir):
        queue.until(lambda d=run_dir: request(d, "status")["state"] == "paused")
    scheduler = queue.scheduler()
    assert scheduler and scheduler > 0
    os.kill(scheduler, signal.SIGKILL)  # the scheduler dies ...
    victim = queue.job(killed)
    assert victim.pid is not None
    os.killpg(victim.pid, signal.SIGKILL)  # ... and so does one job (its whole session)
    queue.until(lambda: queue.scheduler() is None, timeout=10)
    assert queue.job(killed).state == RUNNING  # as far as the database knows

    queue.run("start")
    log = QueuePaths(queue.db).log
    queue.until(lambda: f"job {survivor}: adopted its live run" in log.read_text())
    request(survivor_dir, "resume")  # adopted while held: now let it finish
    queue.until(lambda: queue.job(killed).state == DONE and queue.job(survivor).state == DONE)

    resumed = queue.job(killed)
    assert resumed.attempts == 2 and resumed.run_dir == victim.run_dir
    starts = _records(resumed.run_dir, "started")
    assert len(starts) == 2 and starts[1]["start_epoch"] >= 1  # resumed, not restarted
    epochs = [r["epoch"] for r in _records(resumed.run_dir, "epoch")]
    assert epochs[-1] == 6 and epochs.count(1) == 1  # epoch 1 was not trained twice
    assert _summary(resumed.run_dir)["status"] == "completed"

    adopted = queue.job(survivor)
    assert adopted.attempts == 1 and len(_records(adopted.run_dir, "started")) == 1
    assert f"job {killed}: resumed in {victim.run_dir}" in log.read_text()
