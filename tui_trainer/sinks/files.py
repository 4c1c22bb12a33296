"""The run directory writer: config.yaml, metrics.jsonl, metrics.csv and summary.json.

Layout (a contract, README: "The run directory"): runs/<preset>/<YYYYmmdd-HHMMSS>/ with
checkpoints/ beside these files. summary.json and metrics.csv are replaced atomically, so a
reader never sees half a file; metrics.jsonl is appended and flushed line by line.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from tui_trainer.atomic import atomic_write_text
from tui_trainer.engine.events import (
    CheckpointSaved,
    ConfigChanged,
    EpochEnd,
    Event,
    LogMessage,
    LRPlan,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    StepProgress,
)


def new_run_dir(out: str | Path, preset: str) -> Path:
    """A fresh `out/<preset>/<timestamp>` path (suffixed -2, -3 ... if taken); not created."""
    base = Path(out) / preset / time.strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def write_config(run_dir: Path, config: dict[str, Any], preset: str) -> None:
    """Write the fully resolved config that `replay` runs as is."""
    header = (
        f"# tui-trainer resolved config (preset: {preset}).\n"
        f"# Replay it with: tui-trainer replay {run_dir}\n"
    )
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=1000)
    atomic_write_text(run_dir / "config.yaml", header + body)


class RunDirWriter:
    """Subscribes to engine events and keeps the run directory's files current."""

    def __init__(self, run_dir: Path, preset: str) -> None:
        self.run_dir = run_dir
        self.preset = preset
        self.epochs: list[dict[str, Any]] = []
        self._jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def _line(self, record: dict[str, Any]) -> None:
        self._jsonl.write(json.dumps(record, default=str) + "\n")
        self._jsonl.flush()

    def __call__(self, event: Event) -> None:
        """Record one event."""
        now = round(time.time(), 3)
        if isinstance(event, StepProgress):
            self._line({"event": "step", "time": now, **asdict(event)})
        elif isinstance(event, EpochEnd):
            row = {"event": "epoch", "time": now, "epoch": event.epoch, **event.metrics}
            row["is_best"] = event.is_best
            self._line(row)
            self.epochs.append(event.metrics)
            self._write_csv()
        elif isinstance(event, RunStarted):
            self._line(
                {
                    "event": "started",
                    "time": now,
                    "preset": event.preset,
                    "device": event.device,
                    "precision": event.precision,
                    "start_epoch": event.start_epoch,
                    "trainable_params": event.trainable_params,
                    "total_params": event.total_params,
                }
            )
        elif isinstance(event, ConfigChanged):
            self._line({"event": "config", "time": now, "reason": event.reason})
            write_config(self.run_dir, event.config, self.preset)
        elif isinstance(event, CheckpointSaved):
            self._line({"event": "checkpoint", "time": now, **asdict(event)})
        elif isinstance(event, LogMessage):
            self._line({"event": "log", "time": now, **asdict(event)})
        elif isinstance(event, LRPlan):
            points = [[x, lr] for x, lr in event.points]
            self._line({"event": "lr_plan", "time": now, "reason": event.reason, "points": points})
        elif isinstance(event, (Paused, Resumed)):
            name = "paused" if isinstance(event, Paused) else "resumed"
            self._line({"event": name, "time": now, **asdict(event)})
        elif isinstance(event, RunFinished):
            self._line({"event": "finished", "time": now, "status": event.status})
            self.write_summary(event.summary)
            self._jsonl.close()

    def load_history(self, history: list[dict[str, Any]]) -> None:
        """Epoch rows from before a resume, so metrics.csv stays complete."""
        self.epochs = list(history)

    def _write_csv(self) -> None:
        keys: list[str] = []
        for row in self.epochs:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.epochs)
        atomic_write_text(self.run_dir / "metrics.csv", buf.getvalue())

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write summary.json (atomically)."""
        atomic_write_text(
            self.run_dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n"
        )
