"""Sweep trials without training: run directories written by the real writer from the fake
engine with a chosen validation curve, and jobs moved through the store as the scheduler would."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from support.scripted import ScriptedExecutor
from tui_trainer.queue.store import DONE, Job, QueueStore
from tui_trainer.runlog.control import Control
from tui_trainer.sinks.files import RunDirWriter, write_config


@dataclass
class CurveExecutor(ScriptedExecutor):
    """The fake engine with `curve[e - 1]` as epoch e's validation accuracy."""

    curve: list[float] = field(default_factory=lambda: [0.5])

    def accuracy(self, epoch: int) -> float:
        """The chosen curve."""
        return self.curve[epoch - 1]


def write_trial(run_dir: Path, curve: list[float], *, upto: int | None = None) -> Path:
    """A finished quickstart run in `run_dir` whose val_accuracy follows `curve`; with `upto`,
    as a run still training leaves it: epochs after `upto` and summary.json not written yet."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"task": "classification", "epochs": len(curve), "data": {"name": "digits"}}
    write_config(run_dir, config, "quickstart")
    fake = CurveExecutor(epochs=len(curve), steps=4, run_dir=str(run_dir), curve=curve)
    fake(config, "quickstart", sinks=[RunDirWriter(run_dir, "quickstart")], control=Control())
    if upto is not None:
        (run_dir / "summary.json").unlink()
        path = run_dir / "metrics.jsonl"
        kept = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["event"] == "epoch" and record["epoch"] > upto:
                break
            kept.append(line)
        path.write_text("\n".join(kept) + "\n")
    return run_dir


def start(store: QueueStore, job: Job, run_dir: Path) -> Job:
    """Claim a queued job as the scheduler does (running in `run_dir`)."""
    claimed = store.claim(job.id, run_dir=str(run_dir), gpu_ids=[])
    assert claimed is not None
    return claimed


def finish(
    store: QueueStore, job: Job, run_dir: Path, curve: list[float], state: str = DONE
) -> Job:
    """Start `job`, write its run with `curve`, and record it ended in `state`."""
    start(store, job, run_dir)
    write_trial(run_dir, curve)
    return store.finish(job.id, state, exit_code=0)
