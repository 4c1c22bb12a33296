"""What reporting a validation pass's progress costs the pass.

`python benchmarks/bench_validation_progress.py [--rounds 21] [--preset fake-benchmark]
[--interval 0.25] [override ...]`

One process, one trainer (CPU, one torch thread). Each round times the validation pass twice,
the order alternating: silent (no event bus: what `Trainer.validate()` did before validation
reported progress), and reporting (`ValidationProgress` every `--interval` seconds, each one
turned into its metrics.jsonl record and appended to a real file, as the run's writer does).
At the default 0.25 s interval a pass of ~0.1 s reports nothing; `--interval 0.01` shows the
cost when it reports ~10 times a pass. Prints the medians, the events per pass and the
reporting/silent ratio (per-round range).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from benchlib import machine

from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import Event, EventBus
from tui_trainer.runlog.records import to_record
from tui_trainer.session import prepare
from tui_trainer.sinks.jsonl import JsonLines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--preset", default="fake-benchmark")
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(tempfile.mkdtemp(prefix="bench-valprogress-"))
    config, name = load_config(
        args.preset,
        ["device=cpu", "epochs=1", f"out={out}", f"progress.interval={args.interval}",
         *args.overrides],
    )  # fmt: skip
    trainer = prepare(config, name, control=Control()).trainer
    lines = JsonLines(out / "metrics.jsonl")
    sent: list[Event] = []

    def write(event: Event) -> None:
        sent.append(event)
        lines.append(to_record(event, time.time()))

    trainer.validate()  # warm-up: allocations, lazy imports
    silent, reporting, events = [], [], []
    for r in range(args.rounds):
        for side in ("silent", "reporting") if r % 2 == 0 else ("reporting", "silent"):
            if side == "reporting":
                trainer.bus = EventBus([write])
                sent.clear()
            elif hasattr(trainer, "bus"):
                del trainer.bus
            t0 = time.perf_counter()
            trainer.validate()
            elapsed = time.perf_counter() - t0
            if side == "silent":
                silent.append(elapsed)
            else:
                reporting.append(elapsed)
                events.append(len(sent))
    ratios = [a / b for a, b in zip(reporting, silent, strict=True)]
    print(f"{args.preset}: {trainer.data.val_samples} validation images, "
          f"{len(trainer.data.val)} batches, interval {args.interval} s; {machine()}")  # fmt: skip
    print(f"validation pass, silent:     {statistics.median(silent) * 1e3:8.1f} ms")
    print(f"validation pass, reporting:  {statistics.median(reporting) * 1e3:8.1f} ms "
          f"({statistics.median(events):.0f} events a pass)")  # fmt: skip
    print(f"reporting / silent: {statistics.median(ratios):.3f}x "
          f"(per round {min(ratios):.3f}-{max(ratios):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
