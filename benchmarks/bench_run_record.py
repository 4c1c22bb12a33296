"""Reading run directories at scale: 2,000 run folders and one 2,000,000-record run.

Generates, in a temporary folder, `--runs` finished run folders (5% died: no summary.json) and
one long run with `--records` metrics.jsonl records (step lines with the shapes the engine
writes, 2,000 per epoch, each epoch followed by its epoch and checkpoint lines), then measures,
each in a fresh process, the time to the first result and the peak RSS of:

- `tui-trainer runs ROOT --json` (stdout to a pipe);
- the runs browser's first screen: its view model (`runs_view.scan`, sorted, rows as shown);
- `tui-trainer compare LONG SHORT` piped (the config diff and metrics side by side);
- `watch`'s history load: `RemoteRun._replay` into the run screen's model (`RunModel`) and
  curves, what the screen shows before its live stream;
- the runs browser shown and idle for `--idle-seconds` (20): its process's CPU share.

    python benchmarks/bench_run_record.py [--runs 2000] [--records 2000000] [--json]

Goal (harden issue): each under 1 s and 300 MB, flat in the run's length and the number of runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIG = """# tui-trainer resolved config (preset: {preset}).
task: classification
epochs: {epochs}
seed: 0
device: auto
precision: fp32
data:
  name: digits
  batch_size: 32
  num_workers: auto
  val_split: 0.2
model:
  name: small_cnn
  kwargs:
    channels: [16, 32]
optim: {{name: sgd, lr: {lr}, weight_decay: 0.0005, momentum: 0.9}}
scheduler: {{name: cosine, warmup_epochs: 1.0}}
checkpoint: {{every_steps: null, every_epochs: null, keep: 3, monitor: null, mode: null}}
notes: []
steering: []
"""

STEP = (
    '{{"event": "step", "time": {t:.3f}, "epoch": {e}, "epochs": {E}, "step": {s}, "steps": {S}, '
    '"global_step": {g}, "loss": {loss:.16f}, "lr": {lr:.6g}, "samples_per_second": 1234.5, '
    '"elapsed": {el:.6f}, "phase": "train", "grad_norm": null, "steps_per_second": 20.1, '
    '"epoch_elapsed": {ee:.6f}}}\n'
)
EPOCH = (
    '{{"event": "epoch", "time": {t:.3f}, "epoch": {e}, "train_loss": {loss:.16f}, '
    '"train_accuracy": {acc:.16f}, "val_loss": {loss:.16f}, "val_accuracy": {acc:.16f}, '
    '"lr": {lr:.6g}, "epoch_seconds": 0.081, "is_best": true, "epochs": {E}, '
    '"best_metric": "val_accuracy", "best_value": {acc:.16f}, "best_epoch": {e}}}\n'
)
CHECKPOINT = (
    '{{"event": "checkpoint", "time": {t:.3f}, "path": "{d}/checkpoints/last.pt", '
    '"reason": "epoch", "epoch": {e}, "global_step": {g}}}\n'
)
STARTED = (
    '{{"event": "started", "time": {t:.3f}, "preset": "{p}", "device": "cpu", '
    '"precision": "fp32", "start_epoch": 0, "trainable_params": 38666, "total_params": 38666, '
    '"run_dir": "{d}", "epochs": {E}, "steps_per_epoch": {S}, "task": "classification", '
    '"world_size": 1, "warnings": [], "pid": 1}}\n'
)


def write_run(run_dir: Path, epochs: int, steps: int, finished: bool, lr: float = 0.05) -> None:
    """One run folder as the engine leaves it (`steps` step lines per epoch)."""
    run_dir.mkdir(parents=True)
    preset = run_dir.parent.name
    (run_dir / "config.yaml").write_text(CONFIG.format(preset=preset, epochs=epochs, lr=lr))
    t0 = 1_796_000_000.0
    with open(run_dir / "metrics.jsonl", "w") as fh:
        fh.write(STARTED.format(t=t0, p=preset, d=run_dir, E=epochs, S=steps))
        g = 0
        for e in range(1, epochs + 1):
            buf = []
            for s in range(1, steps + 1):
                g += 1
                t = t0 + g * 0.25
                loss = 2.3 / (1 + g * 1e-4)
                buf.append(
                    STEP.format(
                        t=t,
                        e=e,
                        E=epochs,
                        s=s,
                        S=steps,
                        g=g,
                        loss=loss,
                        lr=lr,
                        el=g * 0.25,
                        ee=s * 0.25,
                    )
                )
            fh.write("".join(buf))
            acc = 1 - 1 / (1 + e)
            fh.write(
                EPOCH.format(t=t0 + g * 0.25, e=e, loss=2.3 / (1 + e), acc=acc, lr=lr, E=epochs)
            )
            fh.write(CHECKPOINT.format(t=t0 + g * 0.25, d=run_dir, e=e, g=g))
        if finished:
            summary = {
                "status": "completed",
                "epochs_completed": epochs,
                "best": {"metric": "val_accuracy", "value": acc, "epoch": epochs},
                "final": {"epoch": epochs, "val_accuracy": acc},
                "wall_seconds": g * 0.25,
                "samples_per_second": 1234.5,
                "run_dir": str(run_dir),
            }
            record = {
                "event": "finished",
                "time": t0 + g * 0.25,
                "status": "completed",
                "summary": summary,
                "report": "",
            }
            fh.write(json.dumps(record) + "\n")
            (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))


def generate(root: Path, runs: int, records: int) -> tuple[Path, Path, Path]:
    """`runs` folders under root/many, one long run and one short run; their paths."""
    many = root / "many"
    for i in range(runs):
        write_run(many / f"preset{i % 7}" / f"2026113{i % 10}-{i:06d}", 10, 40, i % 20 != 0)
    steps = 2000
    long_run = root / "long" / "quickstart" / "20261201-000000"
    write_run(long_run, max(records // (steps + 2), 1), steps, True)
    short_run = root / "long" / "quickstart" / "20261201-000001"
    write_run(short_run, 10, 40, True, lr=0.01)
    return many, long_run, short_run


BROWSER = """
import sys
from tui_trainer.tui import runs_view as rv
listing = rv.scan(sys.argv[1])
shown = rv.sort_runs(listing.runs, "date")[:40]
rows = [(rv.status_text(i), rv.run_name(i), rv.progress_text(i), rv.best_text(i),
         rv.started_text(i), rv.took_text(i)) for i in shown]
print(len(listing.runs), len(rows))
"""

BROWSER_IDLE = """
import asyncio, sys, time
from textual.app import App
from textual.widgets import DataTable
from tui_trainer.tui.screens.runs import RunsScreen

class Browser(App):
    def on_mount(self):
        self.push_screen(RunsScreen(sys.argv[1]))

async def main():
    app = Browser()
    async with app.run_test(size=(120, 40)) as pilot:
        while not (isinstance(app.screen, RunsScreen)
                   and app.screen.query_one(DataTable).row_count):
            await pilot.pause(0.05)
        await pilot.pause(1.0)
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(float(sys.argv[2]))
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        print(app.screen.query_one(DataTable).row_count, round(100 * cpu / wall, 2))
asyncio.run(main())
"""
"""The runs browser shown (headless, 120x40) and left idle: its process's CPU share (every
thread: the refresh worker included) while it refreshes every few seconds."""

WATCH = """
import sys
from pathlib import Path
from tui_trainer.tui.curves import Curves
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.sources import RemoteRun
model, curves = RunModel(), Curves()
def sink(event):
    model.apply(event)
    curves.apply(event)
source = RemoteRun(Path(sys.argv[1]))
source._replay(sink, 0, None)
print(len(model.rows), model.state)
"""


def measure(argv: list[str], check: Any) -> dict[str, float]:
    """Run argv in a fresh process: wall seconds to its exit and its peak RSS (MB); `check`
    (its stdout) must hold: what it shows is complete, however little it read."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[-2:]} failed ({proc.returncode}): {err.decode()[-500:]}")
    if not check(out.decode()):
        raise SystemExit(f"{argv[-2:]}: unexpected output {out.decode()[:300]!r}")
    return {
        "seconds": round(seconds, 3),
        "peak_mb": round(usage.ru_maxrss / 1024, 1),
        "output_bytes": len(out),
    }


def main() -> int:
    """Generate, measure, print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--idle-seconds", type=float, default=20.0, help="the idle browser's CPU (0: skip)"
    )
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        many, long_run, short_run = generate(Path(tmp), args.runs, args.records)
        size = (long_run / "metrics.jsonl").stat().st_size
        made = time.perf_counter() - began
        epochs = max(args.records // 2002, 1)
        n = args.runs
        results = {
            "runs --json": measure(
                [py, "-m", "tui_trainer", "runs", str(many), "--json"],
                lambda out: len(json.loads(out)) == n,
            ),
            "runs browser (first screen)": measure(
                [py, "-c", BROWSER, str(many)], lambda out: out.split()[0] == str(n)
            ),
            "compare LONG SHORT (piped)": measure(
                [py, "-m", "tui_trainer", "compare", str(long_run), str(short_run)],
                lambda out: f" {epochs}/{epochs} " in out,
            ),
            "watch history load": measure(
                [py, "-c", WATCH, str(long_run)], lambda out: out.split()[0] == str(epochs)
            ),
        }
        if args.idle_seconds > 0:
            idle = subprocess.run(
                [py, "-c", BROWSER_IDLE, str(many), str(args.idle_seconds)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert idle[0] == str(n), idle
            results["runs browser idle"] = {"cpu_percent": float(idle[1])}
    if args.json:
        print(json.dumps({"runs": args.runs, "records": args.records, "results": results}))
        return 0
    print(
        f"{args.runs} run folders; a {args.records:,}-record run ({size / 2**20:.0f} MiB); "
        f"generated in {made:.0f} s"
    )
    print(f"{'':32} {'seconds':>8} {'peak MB':>8}")
    for name, r in results.items():
        if "cpu_percent" in r:
            print(f"{name:32} {r['cpu_percent']:7.1f}% CPU over {args.idle_seconds:.0f} s")
        else:
            print(f"{name:32} {r['seconds']:8.2f} {r['peak_mb']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
