"""Two CPU jobs at once: torch's default threads (one per core each) against the queue's share.

`queue start --cpu-slots N` runs N CPU jobs at once. Each round starts two identical runs
side by side in fresh processes, twice, the order alternating:

- **default**: `OMP_NUM_THREADS` and `MKL_NUM_THREADS` unset, as the queue started CPU jobs
  before: each run takes one torch thread per core;
- **share**: both set to the queue's `cpu_share(2)` (the cores this process may run on, split
  between two slots), as the scheduler now starts them.

A pair's time is the slower run's training time, from its `started` record to its `finished`
record in metrics.jsonl (process start-up, the same on both sides, left out). The ratio is
default / share: how many times longer the pair trains without the share.

    python benchmarks/bench_queue_cpu_slots.py [--rounds 5] [key=value ... for the runs]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from benchlib import child_env, machine, report, tui_trainer

from tui_trainer.queue.scheduler import THREAD_VARS, cpu_share

RUN = ["epochs=10", "device=cpu", "data.batch_size=64"]


def training_seconds(out: Path) -> float:
    """From the `started` record to the `finished` record of the one run under `out`."""
    (metrics,) = out.glob("*/*/metrics.jsonl")
    times = {}
    for line in metrics.read_text().splitlines():
        record = json.loads(line)
        if record.get("event") in ("started", "finished"):
            times[record["event"]] = float(record["time"])
    return times["finished"] - times["started"]


def pair(tmp: Path, threads: str | None, overrides: list[str]) -> float:
    """Two runs at once; the slower one's training seconds."""
    env = child_env()
    for var in THREAD_VARS:
        env.pop(var, None)
        if threads is not None:
            env[var] = threads
    outs = [Path(tempfile.mkdtemp(dir=tmp)) for _ in range(2)]
    procs = [
        subprocess.Popen(
            tui_trainer("run", "quickstart", *overrides, "--out", str(out)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for out in outs
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"a run failed (exit {proc.returncode})")
    return max(training_seconds(out) for out in outs)


def main() -> None:
    """Interleaved rounds of both sides; the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("overrides", nargs="*", help="key=value for both sides' runs")
    args = parser.parse_args()
    overrides = [*RUN, *args.overrides]
    share = str(cpu_share(2))
    print(f"{machine()}; two runs at once: quickstart {' '.join(overrides)}; share {share}")
    default: list[float] = []
    shared: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            sides = [(default, None), (shared, share)]
            for series, threads in sides if i % 2 == 0 else sides[::-1]:
                series.append(pair(Path(tmp), threads, overrides))
            print(f"round {i + 1}: default {default[-1]:.2f} s  share {shared[-1]:.2f} s")
    report("share", shared, "default", default, "training seconds of the slower run")


if __name__ == "__main__":
    main()
