"""What the whole-process benchmarks share: the tutorial net, its data, and running a process.

`Net` is the PyTorch CIFAR-10 tutorial's network; the benchmarks give it to tui-trainer as
`model.name=tutorial_net:Net` (a user's own `module:Class`), and the baselines (a bare loop,
Lightning) use the same class. `fake_tensors` makes the fake-benchmark preset's images again
without importing tui-trainer (same generator, same split), already normalised as float32.

`run_process` runs one command in its own process group, optionally on a pseudo-terminal of a
given size drained the way a terminal emulator would read it, and returns its wall time.
"""

from __future__ import annotations

import glob
import json
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PRESET = "fake-benchmark"
MODEL = "tutorial_net:Net"  # the tutorial CNN, given as a user's module:Class
# The fake-benchmark preset's data (see tui_trainer/presets/fake-benchmark.yaml).
NUM_SAMPLES, NUM_CLASSES, SIZE, VAL_SPLIT, BATCH, LR, MOMENTUM, SEED = (
    8192,
    10,
    32,
    0.2,
    128,
    0.02,
    0.9,
    0,
)


def child_env() -> dict[str, str]:
    """The environment of a benchmark's child: this checkout and benchmarks/ importable."""
    env = dict(os.environ)
    paths = [str(REPO), str(HERE), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def fake_tensors() -> tuple[Any, Any, Any, Any]:
    """(train_x, train_y, val_x, val_y) of the fake-benchmark preset, normalised float32.

    The same generator and split as tui-trainer's `fake` data source: images are uint8
    (template + noise), the first 20% are validation, pixels are scaled to [0, 1] and
    normalised with mean 0.5, std 0.5 (the tutorial's [-1, 1]).
    """
    import torch

    gen = torch.Generator().manual_seed(SEED)
    n, k, s = NUM_SAMPLES, NUM_CLASSES, SIZE
    templates = torch.rand(k, 3, s, s, generator=gen)
    targets = torch.randint(0, k, (n,), generator=gen)
    noise = torch.rand(n, 3, s, s, generator=gen)
    images = (0.5 * templates[targets] + 0.5 * noise).mul(255).round().to(torch.uint8)
    x = (images.float() / 255.0 - 0.5) / 0.5
    n_val = max(1, round(n * VAL_SPLIT))
    return x[n_val:], targets[n_val:], x[:n_val], targets[:n_val]


def bare_training(epochs: int, clock: Callable[[], float]) -> tuple[int, float]:
    """The strict bare loop every benchmark compares against: (samples trained, `clock` time).

    The tutorial net on `fake_tensors()`, SGD with momentum, a seeded permutation per epoch and
    slices of it as batches; `clock` (time.perf_counter, time.thread_time) times the epochs.
    """
    import torch
    from tutorial_net import Net

    train_x, train_y, _, _ = fake_tensors()
    torch.manual_seed(SEED)
    model = Net(NUM_CLASSES).train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    n, b = train_y.shape[0], BATCH
    samples, seconds = 0, 0.0
    for epoch in range(epochs):
        t0 = clock()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        for start in range(0, n, b):
            idx = order[start : start + b]
            x, y = train_x[idx], train_y[idx]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
            samples += y.shape[0]
        seconds += clock() - t0
    return samples, seconds


def read_summary(out: Path) -> dict[str, Any]:
    """The summary.json of the one run under the runs root `out`."""
    found = glob.glob(str(out / "*" / "*" / "summary.json"))
    if len(found) != 1:
        raise SystemExit(f"expected one summary.json under {out}, found {found}")
    return json.loads(Path(found[0]).read_text())


def _drain(fd: int, stop: threading.Event) -> None:
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return


def run_process(
    argv: Sequence[str],
    *,
    size: tuple[int, int] | None = None,
    done: Callable[[int], bool] | None = None,
    timeout: float = 600.0,
    keys: Callable[[int], bytes] | None = None,
) -> tuple[float, str]:
    """Run `argv`; (wall seconds, its stdout when not on a pty).

    With `size` (columns, rows) the process gets a pseudo-terminal of that size for stdin,
    stdout and stderr, read continuously. With `done`, the process is ended (SIGTERM to its
    group) as soon as `done(pid)` is true (asked every 50 ms), and the wall time is taken at
    that moment: for an interactive app that stays open after its run. With `keys` (and
    `size`), what `keys(pid)` returns (asked every 50 ms) is typed into the terminal.
    """
    env = child_env()
    t0 = time.perf_counter()
    if size is None:
        proc = subprocess.Popen(
            list(argv), env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        out, _ = proc.communicate(timeout=timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
        return wall, out
    import fcntl

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env.update(COLUMNS=str(size[0]), LINES=str(size[1]), TERM="xterm-256color")
    stop = threading.Event()
    reader = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    reader.start()
    proc = subprocess.Popen(
        list(argv), env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    deadline = t0 + timeout
    try:
        while proc.poll() is None:
            if done is not None and done(proc.pid):
                wall = time.perf_counter() - t0
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
                return wall, ""
            if time.perf_counter() > deadline:
                raise SystemExit(f"{' '.join(argv)} ran past {timeout:.0f} s")
            typed = keys(proc.pid) if keys is not None else b""
            if typed:
                os.write(master, typed)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
        return wall, ""
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stop.set()
        reader.join(2)
        os.close(master)


def thread_cpu_seconds(pid: int, tid: int) -> float:
    """CPU seconds thread `tid` of process `pid` has used (Linux /proc); 0.0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tui_trainer(*args: str) -> list[str]:
    """The command line of `tui-trainer ARGS` with this interpreter and checkout."""
    return [sys.executable, "-m", "tui_trainer", *args]


def report(name_a: str, a: list[float], name_b: str, b: list[float], unit: str) -> float:
    """Print the medians of two interleaved series and return median(b) / median(a)."""
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"median {unit}: {name_a} {ma:,.2f}  {name_b} {mb:,.2f}  ratio {mb / ma:.3f}")
    return mb / ma


def machine() -> str:
    """One line about this machine and its load, for the figures' context."""
    import platform

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load}"
