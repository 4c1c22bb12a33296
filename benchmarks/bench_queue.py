"""The queue's cost: `queue add` to the job's first step against a direct `run`; an idle
scheduler's CPU.

Each round, one after the other (the order alternating), in fresh processes:

- **direct**: `tui-trainer run quickstart ARGS --out DIR`, timed from just before the process
  starts to the `time` of the first `step` record in its metrics.jsonl;
- **queued**: `tui-trainer queue add quickstart ARGS --out DIR` with the scheduler already
  running (started once before the rounds, as after the first `add` of a session), timed from
  just before `queue add` starts to the first `step` record of the job's run.

Both sides read the same clock (the record's `time` is the run's `time.time()`), so the
difference is what the queue adds: the `queue add` process (validation, the insert), the wake-up
and the scheduler's spawn. On a busy machine a run's own start-up varies by seconds between
rounds, far more than the queue adds, so the queued side is also split: the queue's own part is
from `queue add` starting to the job's `tui-trainer run` process starting (psutil's
`create_time` of the pid the scheduler recorded); what follows is the same run start-up as the
direct side's. Then the scheduler is left with an empty queue for `--idle` seconds
and its CPU time (user + system, psutil) over that window is reported. A private queue database
(`TUI_TRAINER_QUEUE_DB` in a temporary folder) is used; nothing of yours is touched.

    python benchmarks/bench_queue.py [--rounds 5] [--idle 10] [key=value ... for the run]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

RUN = ["epochs=1", "device=cpu", "progress.interval=0.01"]
ADD_CPU: list[float] = []  # CPU seconds of each `queue add` process
CLAIM: list[float] = []  # seconds from a job's insert to the scheduler's claim


def cli(*args: str) -> list[str]:
    """`python -m tui_trainer ARGS` (this checkout, whatever is installed)."""
    return [sys.executable, "-m", "tui_trainer", *args]


def first_step(run_dir: Path, timeout: float = 300.0) -> float:
    """The `time` of the first step record in `run_dir`'s metrics.jsonl (waits for it)."""
    deadline = time.monotonic() + timeout
    path = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline:
        try:
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record.get("event") == "step":
                    return float(record["time"])
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise SystemExit(f"no step record in {path} after {timeout} s")


def only_new(root: Path, seen: set[Path], timeout: float = 300.0) -> Path:
    """The run directory that appeared under `root` since `seen`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [p for p in root.glob("*/*") if p.is_dir() and p not in seen]
        if fresh:
            return fresh[0]
        time.sleep(0.01)
    raise SystemExit(f"no new run directory under {root}")


def direct(out: Path, args: list[str]) -> float:
    seen = set(out.glob("*/*"))
    start = time.time()
    proc = subprocess.Popen(
        cli("run", "quickstart", *args, "--out", str(out)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    took = first_step(only_new(out, seen)) - start
    proc.wait()
    return took


def queued(out: Path, args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(start to first step, start to the run's process, `queue add`'s own wall time)."""
    from tui_trainer.queue.store import QueueStore

    seen = set(out.glob("*/*"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    done = subprocess.run(
        cli("queue", "add", "quickstart", *args, "--out", str(out)),
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    added = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ADD_CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    run_dir = only_new(out, seen)
    with QueueStore(Path(env["TUI_TRAINER_QUEUE_DB"])) as store:
        job_id = int(done.stdout)
        while store.get(job_id).pid is None:
            time.sleep(0.005)
        job = store.get(job_id)
        pid = job.pid
        assert job.started is not None
        CLAIM.append(job.started - job.created)  # the insert to the scheduler's claim
    spawned = psutil.Process(pid).create_time() - start
    took = first_step(run_dir) - start
    while not (run_dir / "summary.json").exists():  # the next round starts on a quiet machine
        time.sleep(0.05)
    time.sleep(0.3)
    return took, spawned, added


def scheduler_pid(db: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            return int((db.with_name(db.name + ".pid")).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.05)
    raise SystemExit("the scheduler did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measured")
    parser.add_argument("overrides", nargs="*", help="extra key=value for the run")
    opts = parser.parse_args()
    args = [*RUN, *opts.overrides]
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        root = Path(tmp)
        db = root / "queue.db"
        env = {**os.environ, "TUI_TRAINER_QUEUE_DB": str(db)}
        subprocess.run(cli("queue", "start"), env=env, check=True, stdout=subprocess.DEVNULL)
        pid = scheduler_pid(db)
        try:
            a, b, spawn, add = [], [], [], []
            for i in range(opts.rounds):
                order = ("direct", "queued") if i % 2 == 0 else ("queued", "direct")
                for side in order:
                    if side == "direct":
                        a.append(direct(root / "direct", args))
                    else:
                        took, spawned, added = queued(root / "queued", args, env)
                        b.append(took)
                        spawn.append(spawned)
                        add.append(added)
                print(
                    f"round {i + 1}: direct {a[-1]:.3f} s, queued {b[-1]:.3f} s, "
                    f"overhead {b[-1] - a[-1]:+.3f} s; queued: add {add[-1]:.3f} s, "
                    f"the run's process started at {spawn[-1]:.3f} s",
                    flush=True,
                )
            da, db_ = statistics.median(a), statistics.median(b)
            diffs = [y - x for x, y in zip(a, b, strict=True)]
            print(
                f"start to first step, medians of {opts.rounds}: direct {da:.3f} s, "
                f"queued {db_:.3f} s; overhead {db_ - da:+.3f} s "
                f"(per round {min(diffs):+.3f} .. {max(diffs):+.3f}; target <= 0.5 s)"
            )
            print(
                f"the queue's own part (from `queue add` starting to the run's process "
                f"starting), median {statistics.median(spawn):.3f} s "
                f"(rounds {min(spawn):.3f} .. {max(spawn):.3f}), of which the `queue add` "
                f"process {statistics.median(add):.3f} s wall, "
                f"{statistics.median(ADD_CPU):.3f} s CPU; the scheduler's latency (insert to "
                f"claim) median {statistics.median(CLAIM) * 1000:.0f} ms "
                f"(max {max(CLAIM) * 1000:.0f} ms)"
            )
            proc = psutil.Process(pid)
            time.sleep(1.0)
            before = proc.cpu_times()
            t0 = time.monotonic()
            time.sleep(opts.idle)
            after = proc.cpu_times()
            used = (after.user - before.user) + (after.system - before.system)
            span = time.monotonic() - t0
            print(
                f"idle scheduler: {used * 1000:.0f} ms CPU in {span:.1f} s "
                f"({100 * used / span:.2f}% of one core)"
            )
        finally:
            subprocess.run(cli("queue", "stop"), env=env, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
