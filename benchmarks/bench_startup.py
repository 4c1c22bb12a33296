"""Start-up as a user sees it: whole processes, rounds interleaved.

Each round starts, one after another, in fresh processes:

- `python -c "import torch"`: the baseline (what any PyTorch program pays);
- a bare training step (`import torch`, a linear layer, one SGD step): the floor any training
  script pays, since torch.optim's first step imports torch._dynamo itself;
- `tui-trainer run quickstart epochs=1 device=cpu`, timed from the start of the process to the
  moments its first step line (`epoch 1/1  step 1/45 ...`, after the first optimizer step) and
  its first epoch line (`epoch 1/1  train_loss ...`) reach our pipe (read as they come; the
  child is unbuffered, like a terminal);
- `tui-trainer presets` (whole process).

It prints each round and the medians, and the ratios of the medians: the first epoch line
against `import torch` (target <= 1.3), the first step line against the bare step (our own
start-up cost over the floor), and `presets` in seconds (target <= 0.3 s). Next to the wall
clock it shows each process's CPU seconds (user + system, all threads; for the run: read from
/proc at the line), which a busy machine disturbs far less than the wall clock (training
threads that wait spin, though, so the epoch's CPU still grows with the load): on a shared
machine, compare the start-up figures by CPU.

    python benchmarks/bench_startup.py [--rounds 5] [key=value ... for the quickstart run]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EPOCH_LINE = re.compile(r"^epoch 1/\d+ +train_loss")
STEP_LINE = re.compile(r"^epoch 1/\d+ +step 1/")  # printed after the first optimizer step
BARE_STEP = (
    "import torch\n"
    "net = torch.nn.Linear(64, 10)\n"
    "opt = torch.optim.SGD(net.parameters(), lr=0.1)\n"
    "net(torch.randn(32, 64)).sum().backward()\n"
    "opt.step()\n"
)


def tui_trainer() -> list[str]:
    """The console script when it is on PATH, else `python -m tui_trainer`."""
    script = shutil.which("tui-trainer")
    return [script] if script else [sys.executable, "-m", "tui_trainer"]


def env() -> dict[str, str]:
    """The child's environment: unbuffered output, as on a terminal."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def wall(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) from start to exit of one process (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench_startup: {argv[-1][:40]!r} exited {proc.returncode}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process so far (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def to_first_epoch(argv: list[str]) -> tuple[float, float, float, float, float]:
    """Wall and CPU seconds of one run at its first step line and at its first epoch line,
    and wall seconds to exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env())
    assert proc.stdout is not None
    step: tuple[float, float] | None = None
    epoch: tuple[float, float] | None = None
    for line in proc.stdout:
        if step is None and STEP_LINE.search(line):
            step = (time.perf_counter() - start, cpu_seconds(proc.pid))
        if epoch is None and EPOCH_LINE.search(line):
            epoch = (time.perf_counter() - start, cpu_seconds(proc.pid))
    code = proc.wait()
    end = time.perf_counter() - start
    if code != 0 or step is None or epoch is None:
        raise SystemExit(f"bench_startup: the run exited {code} without step and epoch lines")
    return *step, *epoch, end


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("overrides", nargs="*", help="extra overrides for the quickstart run")
    args = parser.parse_args()
    rows: list[tuple[float, ...]] = []
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        run = [
            *tui_trainer(),
            "run",
            "quickstart",
            "epochs=1",
            "device=cpu",
            *args.overrides,
            "--out",
            str(Path(tmp) / "runs"),
        ]
        wall([sys.executable, "-c", "import torch"])  # warm the file cache once, not counted
        print("seconds, wall (CPU):")
        print(
            "round   import torch     bare step    first step line   first epoch line"
            "  (run exits)  presets"
        )
        for r in range(1, args.rounds + 1):
            row = (
                *wall([sys.executable, "-c", "import torch"]),
                *wall([sys.executable, "-c", BARE_STEP]),
                *to_first_epoch(run),
                *wall([*tui_trainer(), "presets"]),
            )
            rows.append(row)
            print(_row(f"{r:>5}", row), flush=True)
    med = tuple(statistics.median(col) for col in zip(*rows, strict=True))
    print(_row("median", med))
    base, base_cpu, bare, bare_cpu, step, step_cpu, first, first_cpu, _, presets, p_cpu = med
    print(
        f"first epoch line / import torch: {first / base:.2f}x wall, "
        f"{first_cpu / base_cpu:.2f}x CPU  (target <= 1.3x)"
    )
    print(
        f"first step line / bare training step: {step / bare:.2f}x wall, "
        f"{step_cpu / bare_cpu:.2f}x CPU  (our start-up over the floor)"
    )
    print(
        f"bare training step / import torch: {bare / base:.2f}x wall, "
        f"{bare_cpu / base_cpu:.2f}x CPU  (what torch.optim's first step adds)"
    )
    print(f"presets: {presets:.2f} s wall, {p_cpu:.2f} s CPU  (target <= 0.3 s)")
    return 0


def _row(label: str, row: tuple[float, ...]) -> str:
    base, base_cpu, bare, bare_cpu, step, step_cpu, first, first_cpu, end, presets, p_cpu = row
    return (
        f"{label:<6} {base:>6.2f} ({base_cpu:.2f})  {bare:>6.2f} ({bare_cpu:.2f})  "
        f"{step:>8.2f} ({step_cpu:.2f})  {first:>9.2f} ({first_cpu:.2f})  {end:>10.2f}  "
        f"{presets:>5.2f} ({p_cpu:.2f})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
