"""The scheduler in this process, over fake GPUs (the NVML fake) and a stand-in for `run`.

The stand-in job (a small script) records the CUDA_VISIBLE_DEVICES it was given, logs a first
step, and ends when the test opens its gate: the placement, packing, adoption and resume logic
is the scheduler's own, only the training is not. The real `tui-trainer run --run-dir` is driven
in tests/e2e/test_queue_daemon.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from support.fake_nvml import GIB, FakeGpu, FakeNvml

from tui_trainer.queue.scheduler import (
    GpuReading,
    Scheduler,
    cpu_share,
    nvml_reader,
    run_command,
)
from tui_trainer.queue.store import DONE, FAILED, HELD, QUEUED, RUNNING, Job, QueueStore

JOB = r"""
import json, os, sys, time
from pathlib import Path
run_dir, gate = Path(sys.argv[1]), Path(sys.argv[2])
attempt = len(list(run_dir.glob("attempt-*"))) + 1
threads = [os.environ.get(v, "<unset>") for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")]
(run_dir / "threads").write_text(" ".join(threads))
(run_dir / "attempt.tmp").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
(run_dir / "attempt.tmp").rename(run_dir / f"attempt-{attempt}")  # whole, never half-read
(run_dir / "metrics.jsonl").write_text(json.dumps({"event": "step", "step": 1}) + "\n")
(run_dir / "config.yaml").write_text("epochs: 1\n")
print("training", flush=True)
(run_dir / "checkpoints").mkdir(exist_ok=True)
(run_dir / "checkpoints" / "last.pt").write_text("x")
while not gate.exists():
    time.sleep(0.02)
status = gate.read_text() or "completed"
(run_dir / "summary.json").write_text(json.dumps({"status": status}))
"""


class Bench:
    """A store, a scheduler over the fake GPUs, and the gates of the jobs."""

    def __init__(self, tmp: Path, fake: FakeNvml | None) -> None:
        self.tmp = tmp
        self.script = tmp / "job.py"
        self.script.write_text(JOB)
        self.gates = tmp / "gates"
        self.gates.mkdir()
        self.store = QueueStore(tmp / "queue.db")
        self.log = io.StringIO()
        self.fake = fake
        self.scheduler = self.new_scheduler()

    def new_scheduler(self) -> Scheduler:
        reader = nvml_reader(self.fake.reader()) if self.fake else (lambda _ours: _no_gpus())
        return Scheduler(self.store, gpu_reader=reader, command=self.command, log=self.log)

    def command(self, job: Job, run_dir: Path) -> list[str]:
        return [sys.executable, str(self.script), str(run_dir), str(self.gates / str(job.id))]

    def add(self, **kw: object) -> Job:
        return self.store.add("p", [], out=str(self.tmp / "runs"), **kw)  # type: ignore[arg-type]  # keywords as add takes them

    def finish(self, job: Job, status: str = "completed") -> None:
        (self.gates / str(job.id)).write_text(status)

    def until(self, what: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert time.monotonic() < deadline, self.log.getvalue()
            self.scheduler.tick()
            time.sleep(0.05)

    def state(self, job: Job) -> str:
        return self.store.get(job.id).state

    def threads(self, job: Job) -> str:
        """The job's OMP_NUM_THREADS and MKL_NUM_THREADS, as it was given them."""
        return Path(self.store.get(job.id).run_dir or "/nonexistent", "threads").read_text()

    def attempts(self, job: Job) -> list[str]:
        run_dir = Path(self.store.get(job.id).run_dir or "/nonexistent")
        return [p.read_text() for p in sorted(run_dir.glob("attempt-*"))]

    def close(self) -> None:
        for job in self.store.jobs([QUEUED, HELD]):
            self.store.remove(job.id)  # nothing new starts while the running ones end
        for job in self.store.jobs([RUNNING]):
            self.finish(job)
        deadline = time.monotonic() + 20
        while self.store.jobs([RUNNING]) and time.monotonic() < deadline:
            self.scheduler.tick()
            time.sleep(0.05)
        for proc in self.scheduler.children.values():  # never leave a process behind
            proc.kill()
            proc.wait()
        # nor one an earlier scheduler of this bench started, or one adopted (own sessions)
        for proc in psutil.process_iter(["cmdline"]):
            if str(self.script) in (proc.info["cmdline"] or []):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        self.store.close()


def _no_gpus() -> GpuReading:
    return GpuReading([], {})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    gpus = [
        FakeGpu(uuid=f"GPU-{i}", memory_used=1 * GIB, memory_total=80 * GIB, compute=[])
        for i in range(2)
    ]
    return FakeNvml(gpus).install(monkeypatch)


@pytest.fixture
def bench(tmp_path: Path, fake: FakeNvml) -> Iterator[Bench]:
    b = Bench(tmp_path, fake)
    yield b
    b.close()


def test_jobs_land_on_different_gpus_and_wait_for_a_free_one(bench: Bench) -> None:
    a, b, c = bench.add(gpus=1), bench.add(gpus=1), bench.add(gpus=1)
    bench.until(lambda: bench.attempts(a) != [] and bench.attempts(b) != [])
    assert sorted([bench.attempts(a)[0], bench.attempts(b)[0]]) == ["0", "1"]
    assert bench.store.get(a.id).gpu_ids == [int(bench.attempts(a)[0])]
    assert bench.state(c) == QUEUED  # both GPUs taken, one job per GPU
    freed = bench.store.get(a.id).gpu_ids
    bench.finish(a)
    bench.until(lambda: bench.state(a) == DONE and bench.attempts(c) != [])
    assert bench.store.get(c.id).gpu_ids == freed
    assert bench.attempts(c) == [str(freed[0])]
    job = bench.store.get(a.id)
    assert (job.exit_code, job.error) == (0, None)
    # The job's output is in its run directory too, as output.log (the same file).
    output = Path(job.run_dir or "") / "output.log"
    assert output.samefile(bench.scheduler.paths.job_log(a.id))
    assert output.read_text().splitlines()[-1] == "training"


def test_per_gpu_packs_a_second_job_once_the_first_is_measured(
    bench: Bench, fake: FakeNvml
) -> None:
    fake.gpus.pop()  # one GPU
    a = bench.add(gpus=1, per_gpu=2)
    b = bench.add(gpus=1, per_gpu=2)
    c = bench.add(gpus=1, per_gpu=2)
    bench.until(lambda: bench.attempts(a) != [])
    for _ in range(5):
        bench.scheduler.tick()
    assert bench.state(b) == QUEUED  # a has not been measured: no packing on a guess
    pid = bench.store.get(a.id).pid
    assert pid is not None
    fake.gpus[0].compute = [(pid, 10 * GIB)]
    fake.gpus[0].memory_used = 11 * GIB
    bench.until(lambda: bench.attempts(b) != [])
    assert bench.store.get(a.id).peak_mem_mb == pytest.approx(10 * 1024)
    assert bench.attempts(b) == ["0"]
    for _ in range(5):
        bench.scheduler.tick()
    assert bench.state(c) == QUEUED  # at most 2 per GPU


def test_per_gpu_does_not_pack_when_the_memory_does_not_fit(bench: Bench, fake: FakeNvml) -> None:
    fake.gpus.pop()
    a, b = bench.add(gpus=1, per_gpu=2), bench.add(gpus=1, per_gpu=2)
    bench.until(lambda: bench.attempts(a) != [])
    pid = bench.store.get(a.id).pid
    assert pid is not None
    fake.gpus[0].compute = [(pid, 50 * GIB)]
    fake.gpus[0].memory_used = 51 * GIB
    bench.until(lambda: bench.store.get(a.id).peak_mem_mb is not None)
    for _ in range(5):
        bench.scheduler.tick()
    assert bench.state(b) == QUEUED


def test_a_gpu_used_by_someone_else_is_left_alone(bench: Bench, fake: FakeNvml) -> None:
    fake.gpus[0].compute = [(os.getppid(), 30 * GIB)]  # a live process that is not the queue's
    a = bench.add(gpus=1)
    bench.until(lambda: bench.attempts(a) != [])
    assert bench.attempts(a) == ["1"]


def test_cpu_jobs_keep_off_the_gpus_and_use_the_cpu_slots(bench: Bench) -> None:
    a, b = bench.add(gpus=0), bench.add(gpus=0)
    bench.until(lambda: bench.attempts(a) != [])
    assert bench.attempts(a) == [""]  # CUDA_VISIBLE_DEVICES="" on a machine with GPUs
    assert bench.state(b) == QUEUED
    bench.store.set_meta("cpu_slots", "2")
    bench.until(lambda: bench.attempts(b) != [])


def test_cpu_jobs_get_their_share_of_the_cores_unless_the_user_set_it(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(psutil.Process, "cpu_affinity", lambda _self: list(range(8)))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    bench.store.set_meta("cpu_slots", "3")
    a, g = bench.add(gpus=0), bench.add(gpus=1)
    bench.until(lambda: bench.attempts(a) != [] and bench.attempts(g) != [])
    assert bench.threads(a) == "2 2"  # 8 cores, 3 slots: 2 threads each, never 8 per job
    assert bench.threads(g) == "<unset> <unset>"  # a GPU job's threads are its own business
    assert "started on CPU (2 threads)" in bench.log.getvalue()
    monkeypatch.setenv("OMP_NUM_THREADS", "5")  # the user's choice stays, for both libraries
    b = bench.add(gpus=0)
    bench.until(lambda: bench.attempts(b) != [])
    assert bench.threads(b) == "5 5"
    assert "started on CPU (5 threads)" in bench.log.getvalue()


def test_cpu_share_splits_the_cores_between_the_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil.Process, "cpu_affinity", lambda _self: list(range(8)))
    assert [cpu_share(n) for n in (1, 2, 3, 8, 16, 0)] == [8, 4, 2, 1, 1, 8]


def test_two_gpu_job_gets_both_or_waits(bench: Bench) -> None:
    one = bench.add(gpus=1)
    bench.until(lambda: bench.attempts(one) != [])
    wide = bench.add(gpus=2)
    later = bench.add(gpus=1)
    for _ in range(5):
        bench.scheduler.tick()
    assert (bench.state(wide), bench.state(later)) == (QUEUED, QUEUED)  # GPU left is owed to wide
    bench.finish(one)
    bench.until(lambda: bench.attempts(wide) != [])
    assert bench.attempts(wide) == ["0,1"]
    argv = run_command(bench.store.get(wide.id), Path("/r/x"))
    assert argv[-4:] == ["--run-dir", "/r/x", "--nproc", "2"]  # what the real job would run


def test_too_many_gpus_fails_the_job_with_a_reason(bench: Bench) -> None:
    wide = bench.add(gpus=3)
    bench.until(lambda: bench.state(wide) == FAILED)
    assert bench.store.get(wide.id).error == "needs 3 GPU(s) and this machine has 2"


def test_a_failed_run_is_failed_with_its_last_line(bench: Bench) -> None:
    bench.script.write_text("import sys\nprint('tui-trainer: error: bad thing')\nsys.exit(2)\n")
    job = bench.add(gpus=1)
    bench.until(lambda: bench.state(job) == FAILED)
    got = bench.store.get(job.id)
    assert (got.exit_code, got.error) == (2, "tui-trainer: error: bad thing")
    assert got.run_dir is not None and not Path(got.run_dir).exists()  # no empty folder left


def test_held_jobs_wait_and_removed_jobs_never_start(bench: Bench) -> None:
    a, b = bench.add(gpus=1), bench.add(gpus=1)
    bench.store.hold(a.id)
    bench.store.remove(b.id)
    for _ in range(5):
        bench.scheduler.tick()
    assert bench.attempts(a) == [] and bench.store.get(b.id).run_dir is None
    bench.store.release(a.id)
    bench.until(lambda: bench.attempts(a) != [])


def test_a_new_scheduler_adopts_a_live_job_and_resumes_a_dead_one(bench: Bench) -> None:
    live, dead = bench.add(gpus=1), bench.add(gpus=1)
    bench.until(lambda: bench.attempts(live) != [] and bench.attempts(dead) != [])
    first = bench.scheduler
    # The scheduler dies (its children run on in their own sessions) and one job is killed.
    dead_pid = bench.store.get(dead.id).pid
    assert dead_pid is not None
    os.kill(dead_pid, signal.SIGKILL)
    first.children[dead.id].wait()
    first.children.clear()
    bench.scheduler = bench.new_scheduler()
    bench.until(lambda: len(bench.attempts(dead)) == 2)
    assert bench.store.get(dead.id).attempts == 2
    assert bench.store.get(dead.id).state == RUNNING
    assert live.id in bench.scheduler.adopted
    gpus_before = bench.store.get(dead.id).gpu_ids
    assert bench.attempts(dead) == [str(gpus_before[0])] * 2  # same run dir, same GPU
    bench.finish(live)
    bench.finish(dead)
    bench.until(lambda: bench.state(live) == DONE and bench.state(dead) == DONE)
    assert "adopted its live run" in bench.log.getvalue()
    assert f"job {dead.id}: resumed in" in bench.log.getvalue()


def test_stop_jobs_ends_running_jobs_as_stopped(bench: Bench) -> None:
    bench.script.write_text(
        JOB.replace(  # the handler is in place before the attempt shows (no early SIGTERM)
            "attempt = len(",
            "import signal\n"
            "signal.signal(signal.SIGTERM, lambda *a: (gate.write_text('interrupted')))\n"
            "attempt = len(",
        )
    )
    job = bench.add(gpus=1)
    bench.until(lambda: bench.attempts(job) != [])
    bench.scheduler.stop_jobs(wait=20)
    assert bench.state(job) == "stopped"
    assert json.loads((Path(bench.store.get(job.id).run_dir or "") / "summary.json").read_text())


def test_stop_jobs_before_a_run_can_save_is_stopped_not_failed(bench: Bench) -> None:
    job = bench.add(gpus=1)  # the stand-in has no SIGTERM handler: it dies at once
    bench.until(lambda: bench.attempts(job) != [])
    bench.scheduler.stop_jobs(wait=20)
    got = bench.store.get(job.id)
    assert (got.state, got.exit_code, got.error) == ("stopped", -15, "stopped before training")


def test_a_silent_failure_names_its_exit_code_not_the_log_header(bench: Bench) -> None:
    bench.script.write_text("import sys\nsys.exit(3)\n")
    job = bench.add(gpus=1)
    bench.until(lambda: bench.state(job) == FAILED)
    assert bench.store.get(job.id).error == "exit code 3"


def test_a_job_interrupted_while_no_scheduler_watched_is_resumed(bench: Bench) -> None:
    job = bench.add(gpus=1)
    bench.until(lambda: bench.attempts(job) != [])
    first = bench.scheduler
    bench.finish(job, "interrupted")  # a shutdown's SIGTERM: checkpoint, status interrupted
    first.children[job.id].wait()
    first.children.clear()  # ... and the scheduler was gone meanwhile
    bench.scheduler = bench.new_scheduler()
    (bench.gates / str(job.id)).unlink()  # the resumed attempt waits again
    bench.until(lambda: len(bench.attempts(job)) == 2)
    assert bench.store.get(job.id).state == RUNNING
    bench.finish(job)
    bench.until(lambda: bench.state(job) == DONE)


def test_a_run_that_ends_between_two_ticks_still_gets_its_output_log(bench: Bench) -> None:
    job = bench.add(gpus=1)
    bench.finish(job)  # the gate is open: the stand-in ends as soon as it started
    bench.scheduler.tick()
    bench.scheduler.children[job.id].wait()
    bench.scheduler.tick()
    got = bench.store.get(job.id)
    assert got.state == DONE
    assert (Path(got.run_dir or "") / "output.log").read_text().endswith("training\n")
