"""Training throughput in the interactive console vs the headless run of the same preset.

Both run in this one process, rounds interleaved (headless, console, headless, ...) so they see
the same machine state; each round reports the engine's training samples/s, and the ratio of
the medians is the result. The console is the real app (`TrainerApp ... --start`) drawing to a
real pseudo-terminal of the given size, drained by a `cat` process the way a terminal emulator
would read it, so rendering and output costs are all counted. The UI thread's CPU use while
training is shown too: unlike the ratio, it hardly depends on what else the machine runs.
The headless arm trains from a fresh thread, like the console's worker, and the main thread
never trains. Measured here (torch's OpenMP build, 2 cores): once the main thread has trained,
a later training thread in the same process runs ~25% slower (the gap closes with
OMP_WAIT_POLICY=passive, which slows both: OpenMP worker pools stop spin-waiting). In separate
processes, headless on the main thread and from a thread train at the same speed.

    python benchmarks/bench_console.py [--rounds 7] [--epochs 6] [--size 120x40] [key=value ...]

Target on CPU: console / headless >= 0.95.
"""

from __future__ import annotations

import argparse
import fcntl
import io
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from tui_trainer.config import load_config
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.control import Control
from tui_trainer.engine.events import RunFinished, Sink, StepProgress
from tui_trainer.session import execute
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui.app import TrainerApp

PRESET = "fake-benchmark"


@contextmanager
def pseudo_terminal(width: int, height: int) -> Iterator[None]:
    """Put a pty of `width` x `height` on stdin/stderr (where Textual reads and draws)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    reader = subprocess.Popen(
        ["cat"], stdin=master, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    saved = {fd: os.dup(fd) for fd in (0, 2)}
    environ = {k: os.environ.get(k) for k in ("COLUMNS", "LINES", "TERM")}
    os.environ.update(COLUMNS=str(width), LINES=str(height), TERM="xterm-256color")
    for fd in saved:
        os.dup2(slave, fd)
    try:
        yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for key, value in environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.close(slave)
        reader.terminate()
        reader.wait()
        os.close(master)


def headless(config: RunConfig) -> float:
    """The headless path (console sink in plain-line mode), trained from a fresh thread."""

    def run() -> None:
        with tempfile.TemporaryDirectory() as out:
            sink = ConsoleSink(io.StringIO(), tty=False)
            run_config = config.model_copy(update={"out": out})
            finished = execute(run_config, PRESET, sinks=[sink], control=Control())
            result.append(float(finished.summary["samples_per_second"]))

    result: list[float] = []
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return result[0]


def thread_cpu_seconds(native_id: int) -> float:
    """CPU seconds a thread of this process has used (Linux /proc)."""
    stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class UiMeter:
    """A sink measuring the UI (main) thread's CPU use from the first step to the end."""

    def __init__(self) -> None:
        self.main = threading.main_thread().native_id
        self.start: tuple[float, float] | None = None
        self.share = float("nan")  # of one core

    def __call__(self, event: object) -> None:
        if isinstance(event, StepProgress) and self.start is None:
            self.start = (thread_cpu_seconds(self.main), time.monotonic())
        elif isinstance(event, RunFinished) and self.start is not None:
            cpu, wall = self.start
            elapsed = time.monotonic() - wall
            self.share = (thread_cpu_seconds(self.main) - cpu) / elapsed if elapsed else 0.0


def console(config: RunConfig, overrides: list[str], size: tuple[int, int]) -> tuple[float, float]:
    """The console started on the preset, drawing to a pty: training samples/s, UI CPU share."""
    meter = UiMeter()

    def metered(config: RunConfig, preset: str, *, sinks: list[Sink], **kw: Any) -> RunFinished:
        return execute(config, preset, sinks=[*sinks, meter], **kw)

    with tempfile.TemporaryDirectory() as out, pseudo_terminal(*size):
        app = TrainerApp(
            PRESET, overrides, start=True, out=out, exit_when_done=True, executor=metered
        )
        app.run()
    result = app.last_result
    if result is None or result.status != "completed":
        raise SystemExit(f"console run did not complete: {result}")
    return float(result.summary["samples_per_second"]), meter.share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", default="120x40", help="terminal size WIDTHxHEIGHT")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    # progress.interval: the engine's default event rate, not the preset's slower one.
    overrides = [f"epochs={args.epochs}", "progress.interval=0.25", *args.overrides]
    config, _ = load_config(PRESET, overrides)
    headless(config)  # warm-up: imports, allocator, kernels
    console(config, overrides, (width, height))
    base, ui, shares = [], [], []
    for i in range(args.rounds):
        base.append(headless(config))
        speed, share = console(config, overrides, (width, height))
        ui.append(speed)
        shares.append(share)
        print(
            f"round {i + 1}: headless {base[-1]:,.0f}/s  console {speed:,.0f}/s  "
            f"ratio {speed / base[-1]:.3f}  (UI thread {share * 100:.1f}% of a core, "
            f"load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    mb, mu = statistics.median(base), statistics.median(ui)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"terminal {width}x{height}, {args.epochs} epoch(s) per round, {args.rounds} rounds")
    print(f"UI thread while training: median {statistics.median(shares) * 100:.1f}% of a core")
    print(f"median samples/s: headless {mb:,.0f}  console {mu:,.0f}  ratio {mu / mb:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
