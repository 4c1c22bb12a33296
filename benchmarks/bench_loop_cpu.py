"""CPU time per training sample, headless runner vs the strict bare loop: a figure a busy machine
cannot blur.

`bench_headless.py` compares wall-clock samples/s, which on a shared machine mostly measures
the other work. This measures the training thread's own CPU time (`time.thread_time`) per
training sample instead, with torch on one thread (no OpenMP worker pool, so no spin-waiting
and no thread-start effects: both arms can share one process, rounds interleaved). The bare
loop is bench_headless's (pre-normalised float tensors, seeded permutation, slices); the runner
is `session.execute` on the fake-benchmark preset with the tutorial CNN as `module:Class`, its
CPU time taken between progress events inside each epoch (validation excluded).

    python benchmarks/bench_loop_cpu.py [--rounds 5] [--epochs 3]

Target: bare / runner (CPU per sample; i.e. runner speed / bare speed) >= 0.98.
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import sys
import tempfile
import time

import benchlib
import torch


def bare(epochs: int) -> float:
    """The strict bare loop: CPU microseconds per training sample."""
    samples, seconds = benchlib.bare_training(epochs, time.thread_time)
    return seconds / samples * 1e6


def runner(epochs: int) -> float:
    """The headless runner in this process: CPU microseconds per training sample."""
    from tui_trainer.config import load_config
    from tui_trainer.runlog.control import Control
    from tui_trainer.runlog.events import StepProgress
    from tui_trainer.session import execute
    from tui_trainer.sinks.console import ConsoleSink

    points: list[tuple[int, int, float]] = []

    def meter(event: object) -> None:
        if isinstance(event, StepProgress):
            points.append((event.epoch, event.global_step, time.thread_time()))

    overrides = [f"epochs={epochs}", f"model.name={benchlib.MODEL}", "device=cpu"]
    config, _ = load_config(benchlib.PRESET, overrides)
    with tempfile.TemporaryDirectory() as out:
        sink = ConsoleSink(io.StringIO(), tty=False)
        config = config.model_copy(update={"out": out})
        execute(config, "bench", sinks=[sink, meter], control=Control())
    cpu, steps = 0.0, 0
    for (e0, g0, c0), (e1, g1, c1) in itertools.pairwise(points):
        if e0 == e1:  # within one epoch: no validation in between
            cpu, steps = cpu + c1 - c0, steps + g1 - g0
    return cpu / (steps * benchlib.BATCH) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {benchlib.machine()}; torch on 1 thread", flush=True)
    runner(1)  # warm-up: imports, allocator
    costs: dict[str, list[float]] = {"bare": [], "runner": []}
    for i in range(args.rounds):
        costs["bare"].append(bare(args.epochs))
        costs["runner"].append(runner(args.epochs))
        b, r = costs["bare"][-1], costs["runner"][-1]
        print(f"round {i + 1}: CPU µs/sample bare {b:.1f}  runner {r:.1f}  speed ratio {b / r:.3f}")
    mb, mr = statistics.median(costs["bare"]), statistics.median(costs["runner"])
    print(
        f"median CPU µs/sample: bare {mb:.1f}  runner {mr:.1f}  runner speed / bare {mb / mr:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
