"""What knowing costs a training run: the time breakdown and the default watchdogs, on vs off.

`python benchmarks/bench_overhead_know.py [--rounds 7] [--epochs 3] [--device cpu]`

Two measurements, both interleaved (on, off, on, off, ...; medians):

1. Whole runs in this process: quickstart (real digits, the small CNN, batch 32: short steps,
   so a per-step cost shows the most) with everything on (the defaults: `TimeSplit` marking the
   loop's phases, `alerts:` rules on) against everything off (`alerts.enabled=false` and a
   `TimeSplit` that is disabled: its marks return at once). The figure is the run's training
   samples/s (summary.json's, over training time). The target is a ratio of at least 0.99.
2. The marks alone: a burst of one step's marks (`data`, `copy`, `compute`, `other`,
   `optimizer`, `other`) on an enabled `TimeSplit` for the device against the same burst on a
   disabled one, per step, as a share of the median step time of the runs (steady state
   without the noise of whole runs: the shared machine's round-to-round spread is larger than
   1%).
3. The watchdogs alone: a burst of progress events through a `Watchdog` with the default
   `alerts:` rules (every rule that reads the event stream), per event, times the events a
   second at the default `progress.interval`, as a share of a second of training (their thread
   wakes once a second and reads a clock: left out).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tui_trainer.config import load_config
from tui_trainer.config.alerts import AlertsConfig
from tui_trainer.config.sections import ProgressConfig
from tui_trainer.engine import loop
from tui_trainer.engine.time_split import TimeSplit
from tui_trainer.engine.watchdog import Watchdog
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import StepProgress
from tui_trainer.session import execute

STEP_MARKS = ("data", "copy", "compute", "other", "optimizer", "other")


class SplitOff(TimeSplit):
    """The "off" arm: a `TimeSplit` that measures nothing (every call returns at once)."""

    def __init__(self, device: torch.device, **kwargs: Any) -> None:
        kwargs["enabled"] = False
        super().__init__(device, **kwargs)


ARMS = {
    "on": (True, True),  # (time breakdown, watchdogs): the defaults
    "breakdown only": (True, False),
    "watchdogs only": (False, True),
    "off": (False, False),
}


def one_run(out: Path, device: str, epochs: int, arm: str) -> tuple[float, float, float]:
    """(training samples/s, seconds per optimizer step, process CPU seconds per optimizer
    step) of one quickstart run."""
    split, alerts = ARMS[arm]
    overrides = [f"device={device}", f"epochs={epochs}", f"out={out}", "checkpoint.keep=1"]
    if not alerts:
        overrides.append("alerts.enabled=false")
    loop.TimeSplit = TimeSplit if split else SplitOff  # type: ignore[misc]  # the arm's class
    try:
        config, name = load_config("quickstart", overrides)
        cpu = time.process_time()
        finished = execute(config, name, sinks=[], control=Control())
        cpu = time.process_time() - cpu
    finally:
        loop.TimeSplit = TimeSplit  # type: ignore[misc]
    s = finished.summary
    assert finished.status == "completed", finished.error
    assert ("time_breakdown" in s) is split  # the arm measured what it says
    steps = s["global_step"]
    return float(s["samples_per_second"] or 0.0), float(s["train_seconds"]) / steps, cpu / steps


class _Link:
    """What the trainer's `off_clock` reads (`ControlLink.paused_total`), through a method."""

    paused_total = 0.0

    def off_clock(self) -> float:
        return self.paused_total


def marks_per_step(device: torch.device, enabled: bool, steps: int = 20000) -> float:
    """Seconds one step's marks take (a burst of `steps` steps)."""
    split = TimeSplit(device, off_clock=_Link().off_clock, enabled=enabled)
    split.start()
    t0 = time.perf_counter()
    for i in range(steps):
        for part in STEP_MARKS:
            split.mark(part)
        if i % 200 == 0:  # a progress event every so often reads the window
            split.take_window()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def watchdog_per_event(events: int = 20000) -> float:
    """Seconds the default watchdog rules take per progress event (no alert trips)."""
    dog = Watchdog(AlertsConfig(), Control(), lambda event: None)
    stream = [
        StepProgress(1, 100, i % 50 + 1, 50, i, 1.0 + 0.01 * (i % 7), 0.1, 3000.0, i * 0.25,
                     time_parts={"data": 0.1, "compute": 0.8, "other": 0.1})
        for i in range(1, events + 1)
    ]  # fmt: skip
    t0 = time.perf_counter()
    for event in stream:
        dog(event)
    return (time.perf_counter() - t0) / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    arms = list(ARMS)
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    cpus: dict[str, list[float]] = {arm: [] for arm in arms}
    steps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        one_run(Path(tmp) / "warm", args.device, 1, "on")  # imports, first-use costs
        for r in range(args.rounds):
            order = arms if r % 2 == 0 else arms[::-1]  # interleaved, each order in turn
            for i, arm in enumerate(order):
                rate, step, cpu = one_run(Path(tmp) / f"{r}-{i}", args.device, args.epochs, arm)
                rates[arm].append(rate)
                cpus[arm].append(cpu)
                steps.append(step)
    off_rate = statistics.median(rates["off"])
    cost = []
    for _ in range(args.rounds):
        cost.append(marks_per_step(device, True) - marks_per_step(device, False))
    mark_cost, step_time = statistics.median(cost), statistics.median(steps)
    per_event = statistics.median(watchdog_per_event() for _ in range(args.rounds))
    per_second = per_event / ProgressConfig().interval
    print(
        f"device: {args.device}  rounds: {args.rounds}  epochs per run: {args.epochs}  "
        f"threads: {args.threads}"
    )
    for arm in arms:
        rate = statistics.median(rates[arm])
        paired = statistics.median(a / b for a, b in zip(rates[arm], rates["off"], strict=True))
        print(
            f"{arm:15} {rate:8,.0f} samples/s  / off: {rate / off_rate:.3f} (paired rounds: "
            f"{paired:.3f})  rounds: {_list(rates[arm])}"
        )
    off_cpu = statistics.median(cpus["off"])
    for arm in arms:
        cpu = statistics.median(cpus[arm])
        print(
            f"{arm:15} {cpu * 1e3:8.3f} ms CPU per step (whole process, all threads)  "
            f"/ off: {cpu / off_cpu:.3f}"
        )
    print(
        f"marks per step: {mark_cost * 1e6:.2f} µs  median step: {step_time * 1e3:.3f} ms  "
        f"share: {mark_cost / step_time:.3%}"
    )
    print(
        f"watchdogs per progress event: {per_event * 1e6:.2f} µs  at one event every "
        f"{ProgressConfig().interval} s: {per_second:.4%} of training time"
    )


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


if __name__ == "__main__":
    main()
