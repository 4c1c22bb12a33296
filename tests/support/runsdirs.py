"""Run directories for the runs-browser tests, written by the real writer from scripted runs.

`make_run` writes a finished run (config.yaml, metrics.jsonl, summary.json) the way a real run
does, from the fake engine (tests/support/scripted.py): no torch, a few milliseconds each.
`fix_times` makes its clock values deterministic (for snapshots); `damage` leaves a run as a killed
process would (no summary, a corrupt line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.scripted import ScriptedExecutor
from tui_trainer.runlog.control import Control
from tui_trainer.sinks.files import RunDirWriter, write_config

BASE: dict[str, Any] = {
    "task": "classification",
    "epochs": 3,
    "data": {"name": "digits", "batch_size": 32},
    "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "scheduler": {"name": "cosine"},
}

T0 = 1_796_000_000.0
"""A fixed clock for `fix_times` (2026-11-30 UTC)."""


def make_run(root: Path, preset: str, name: str, epochs: int = 3, **changes: Any) -> Path:
    """A finished run `root/preset/name` with `epochs` epochs and config `changes`."""
    run_dir = root / preset / name
    run_dir.mkdir(parents=True)
    config = {**BASE, "epochs": epochs, **changes}
    write_config(run_dir, config, preset)
    script = ScriptedExecutor(epochs=epochs, steps=12, run_dir=str(run_dir))
    script(config, preset, sinks=[RunDirWriter(run_dir, preset)], control=Control())
    return run_dir


def fix_times(run_dir: Path, start: float) -> None:
    """Give every metrics.jsonl line a fixed time (`start` + 0.1 s per line)."""
    path = run_dir / "metrics.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for i, record in enumerate(lines):
        record["time"] = start + i * 0.1
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))


def damage(run_dir: Path) -> None:
    """As a killed run leaves it: no summary.json, no `finished` line, one corrupt line."""
    (run_dir / "summary.json").unlink()
    path = run_dir / "metrics.jsonl"
    lines = [ln for ln in path.read_text().splitlines() if '"finished"' not in ln]
    lines.insert(len(lines) // 2, '{"event": "step", "epo')
    path.write_text("\n".join(lines) + "\n")
