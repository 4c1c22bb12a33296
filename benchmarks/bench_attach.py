"""Headless training throughput with two watchers attached vs none.

Each round starts a real headless run (`python -m tui_trainer run fake-benchmark ...`) in its own
process; in "watched" rounds two more processes attach to its control socket as soon as it
serves and follow it as `tui-trainer watch` does (history, then the live stream, every event
applied to the run screen's model; only the drawing is left out, it happens in the watcher's
process). Rounds are interleaved, in alternating order (none then watched, watched then none,
...) so both see the same machine state and its drift; the figure is the ratio of the median
training samples/s (summary.json) of watched to unwatched runs.

    python benchmarks/bench_attach.py [--rounds 5] [key=value ...]

Target: watched / unwatched >= 0.98.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WATCHER = """
import sys, time
from pathlib import Path
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.sources import RemoteRun
out = Path(sys.argv[1])
deadline = time.monotonic() + 120
while not list(out.glob("*/*/.endpoint")):
    if time.monotonic() > deadline:
        sys.exit("no run to watch")
    time.sleep(0.02)
model = RunModel()
source = RemoteRun(next(out.glob("*/*/.endpoint")).parent)
final = source.run(model.apply, lambda: False)
if final is not None:
    model.apply(final)
print(len(model.rows), model.state)
"""


def one_round(overrides: list[str], watchers: int) -> float:
    """One run (with `watchers` processes following it); its training samples/s."""
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        followers = [
            subprocess.Popen(
                [sys.executable, "-c", WATCHER, out], stdout=subprocess.PIPE, text=True, env=env
            )
            for _ in range(watchers)
        ]
        cmd = [sys.executable, "-m", "tui_trainer", "run", "fake-benchmark", *overrides]
        run = subprocess.run(
            [*cmd, "--out", out], capture_output=True, text=True, env=env, check=False
        )
        if run.returncode != 0:
            raise SystemExit(f"run failed ({run.returncode}): {run.stderr[-500:]}")
        for f in followers:
            seen, _ = f.communicate(timeout=120)
            if "finished" not in seen:
                raise SystemExit(f"a watcher did not see the run complete: {seen!r}")
        summary = json.loads(next(Path(out).glob("*/*/summary.json")).read_text())
    return float(summary["samples_per_second"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for the run")
    args = parser.parse_args()
    overrides = ["epochs=2", "device=cpu", "progress.interval=0.25", *args.overrides]
    one_round(overrides, 0)  # warm-up: file caches, imports
    alone, watched = [], []
    for i in range(args.rounds):
        t0 = time.monotonic()
        for watchers in (0, 2) if i % 2 == 0 else (2, 0):
            (watched if watchers else alone).append(one_round(overrides, watchers))
        print(
            f"round {i + 1}: alone {alone[-1]:,.0f}/s  two watchers {watched[-1]:,.0f}/s  "
            f"({time.monotonic() - t0:.0f} s)",
            flush=True,
        )
    ma, mw = statistics.median(alone), statistics.median(watched)
    print(f"median samples/s: alone {ma:,.0f}  two watchers {mw:,.0f}  ratio {mw / ma:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
