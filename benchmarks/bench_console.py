"""Training throughput in the interactive console vs the headless run, in separate processes.

Each round starts both as a user would, each in a fresh process on its own pseudo-terminal of
the given size (default 120x40), drained continuously the way a terminal emulator reads it:

- headless: `tui-trainer run PRESET ...` (plain progress lines),
- console:  `tui-trainer PRESET ... --start` (the Textual app: run screen, plots, GPU panel);
  it stays open on its summary after the run, so it is ended once summary.json is written.
  With `--samples-panel` the console draws pictures with half-blocks (`--images halfblock`)
  and `i` is typed as soon as the run writes its first metrics line: the samples panel is
  shown in the plots' place for the whole run (a run that writes picture sets fills it at
  each validation; pass the overrides that turn them on after the options).

The console's main (UI) thread CPU time while training is shown too (from /proc, from its first
metrics line to its summary): unlike the ratio it hardly depends on what else the machine runs.
Both read the engine's training samples/s from summary.json (training time only: start-up,
validation and checkpoints are excluded). Rounds are interleaved, alternating which front end
goes first, and the ratio of the medians is the result. Separate processes matter: in one
process a training thread started after the main thread trained runs ~25% slower under torch's
OpenMP build (its worker pool spin-waits), which would be charged to whichever arm runs second.
The model is the CIFAR-10 tutorial CNN given as `module:Class` (see benchlib), on the
fake-benchmark preset's in-memory images, with progress events at the engine's default rate.

    python benchmarks/bench_console.py [--rounds 5] [--epochs 3] [--size 120x40]
        [--samples-panel] [key=value ...]

Target: console / headless >= 0.95, with the samples panel shown too.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib


class UiMeter:
    """The console's main (UI) thread CPU share from its first metrics line to its summary."""

    def __init__(self, out: Path, panel: bool = False) -> None:
        self.out = out
        self.start: tuple[float, float] | None = None
        self.share = float("nan")  # of one core
        self.panel = panel  # type `i` once the run screen is up (the samples panel)
        self.typed = False

    def keys(self, pid: int) -> bytes:
        """Asked while the console runs: `i` once, when training has started (the run screen
        is up); nothing otherwise."""
        if self.panel and not self.typed and self.start is not None:
            self.typed = True
            return b"i"
        return b""

    def __call__(self, pid: int) -> bool:
        """Asked while the console runs: True once its run is over (summary.json written)."""
        run = glob.glob(str(self.out / "*" / "*"))
        if self.start is None and run and (Path(run[0]) / "metrics.jsonl").exists():
            self.start = (benchlib.thread_cpu_seconds(pid, pid), time.monotonic())
        if not glob.glob(str(self.out / "*" / "*" / "summary.json")):
            return False
        if self.start is not None:
            cpu, wall = self.start
            elapsed = time.monotonic() - wall
            used = benchlib.thread_cpu_seconds(pid, pid) - cpu
            self.share = used / elapsed if elapsed > 0 else float("nan")
        return True


def one_run(
    console: bool, overrides: list[str], size: tuple[int, int], panel: bool = False
) -> tuple[float, float]:
    """One front end in its own process on a pty of `size`: (training samples/s, UI share);
    `panel`: the console with its samples panel shown."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        common = [benchlib.PRESET, f"model.name={benchlib.MODEL}", "device=cpu", *overrides]
        meter = UiMeter(out, panel)
        if console:
            images = ["--images=halfblock"] if panel else []
            argv = benchlib.tui_trainer(*common, "--start", f"--out={out}", *images)
            benchlib.run_process(argv, size=size, done=meter, keys=meter.keys)
            if panel and not meter.typed:
                raise SystemExit("the console's run never started: the samples panel was not shown")
        else:
            benchlib.run_process(benchlib.tui_trainer("run", *common, f"--out={out}"), size=size)
        summary = benchlib.read_summary(out)
        if summary.get("status") != "completed":
            raise SystemExit(f"the {'console' if console else 'headless'} run did not complete")
        return float(summary["samples_per_second"]), meter.share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", default="120x40", help="terminal size WIDTHxHEIGHT")
    parser.add_argument(
        "--samples-panel",
        action="store_true",
        help="the console with its samples panel shown (i), pictures drawn with half-blocks",
    )
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    # progress.interval: the engine's default event rate, not the preset's slower one.
    overrides = [f"epochs={args.epochs}", "progress.interval=0.25", *args.overrides]
    print(f"machine: {benchlib.machine()}", flush=True)
    speeds: dict[str, list[float]] = {"headless": [], "console": []}
    shares: list[float] = []
    for i in range(args.rounds):
        order = ["headless", "console"] if i % 2 == 0 else ["console", "headless"]
        for name in order:
            speed, share = one_run(
                name == "console", overrides, (width, height), args.samples_panel
            )
            speeds[name].append(speed)
            if name == "console":
                shares.append(share)
        h, c = speeds["headless"][-1], speeds["console"][-1]
        print(
            f"round {i + 1}: headless {h:,.0f}/s  console {c:,.0f}/s  ratio {c / h:.3f}  "
            f"(UI thread {shares[-1] * 100:.1f}% of a core, load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    panel = ", console with the samples panel shown" if args.samples_panel else ""
    print(f"terminal {width}x{height}, {args.epochs} epoch(s) per run, {args.rounds} rounds{panel}")
    print(
        f"console UI thread while training: median {statistics.median(shares) * 100:.1f}% of a core"
    )
    ratios = [c / h for h, c in zip(speeds["headless"], speeds["console"], strict=True)]
    print(
        f"per-round ratios: median {statistics.median(ratios):.3f}, "
        f"range {min(ratios):.3f}-{max(ratios):.3f}"
    )
    benchlib.report("headless", speeds["headless"], "console", speeds["console"], "samples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
