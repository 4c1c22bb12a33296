"""Headless runner vs a strict bare PyTorch loop: training samples/s, each in its own process.

The model is the CIFAR-10 tutorial CNN given to tui-trainer as a user's `module:Class`
(`tutorial_net:Net`), on the fake-benchmark preset's 3×32×32 images (batch 128, SGD with
momentum 0.9, lr 0.02). The bare loop is what a person writes for data already in memory:
the same images pre-normalised as one float32 tensor, a seeded permutation per epoch, slices
of it as batches, zero_grad / forward / backward / step, no logging and no host syncs. It times
its training loops only; the runner's figure is summary.json's `samples_per_second` (training
time only, validation and checkpoints excluded), from `tui-trainer run` as a user starts it.

Each arm runs in a fresh process, rounds interleaved and alternating which goes first, so both
see the same machine state and neither inherits the other's threads (in one process, a training
thread started after the main thread trained runs ~25% slower under torch's OpenMP build: its
worker pool spin-waits; separate processes avoid that). The ratio of the medians is reported.

    python benchmarks/bench_headless.py [--rounds 5] [--epochs 3] [key=value ...]

Target: runner / bare >= 0.98.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import benchlib


def bare_worker(epochs: int) -> None:
    """The strict bare loop (this process): prints {"samples_per_second": ...}."""
    samples, seconds = benchlib.bare_training(epochs, time.perf_counter)
    print(json.dumps({"samples_per_second": samples / seconds}))


def bare(epochs: int) -> float:
    """The bare loop in a fresh process: its training samples/s."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--bare-worker", "--epochs", str(epochs)]
    _, out = benchlib.run_process(argv)
    return float(json.loads(out.strip().splitlines()[-1])["samples_per_second"])


def runner(epochs: int, overrides: list[str]) -> float:
    """`tui-trainer run` in a fresh process: summary.json's training samples/s."""
    with tempfile.TemporaryDirectory() as out:
        argv = benchlib.tui_trainer(
            "run",
            benchlib.PRESET,
            f"model.name={benchlib.MODEL}",
            f"epochs={epochs}",
            "device=cpu",
            *overrides,
            f"--out={out}",
        )
        benchlib.run_process(argv)
        return float(benchlib.read_summary(Path(out))["samples_per_second"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="extra overrides for the runner")
    args = parser.parse_args()
    if args.bare_worker:
        bare_worker(args.epochs)
        return 0
    print(f"machine: {benchlib.machine()}", flush=True)
    arms = {
        "bare": lambda: bare(args.epochs),
        "runner": lambda: runner(args.epochs, args.overrides),
    }
    speeds: dict[str, list[float]] = {"bare": [], "runner": []}
    for i in range(args.rounds):
        order = ["bare", "runner"] if i % 2 == 0 else ["runner", "bare"]
        for name in order:
            speeds[name].append(arms[name]())
        print(
            f"round {i + 1}: bare {speeds['bare'][-1]:,.0f}/s  runner {speeds['runner'][-1]:,.0f}/s"
            f"  ratio {speeds['runner'][-1] / speeds['bare'][-1]:.3f}",
            flush=True,
        )
    print(f"{args.rounds} rounds of {args.epochs} epoch(s), each arm in its own process")
    benchlib.report("bare", speeds["bare"], "runner", speeds["runner"], "samples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
