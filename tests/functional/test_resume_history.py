"""A run resumed in the console shows its whole history, read as `watch` reads it (harden issue:
"Console resume shows only the new epochs")."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from support.runsdirs import make_run

from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import EpochEnd, RunFinished, RunStarted
from tui_trainer.runlog.records import from_record, to_record
from tui_trainer.tui.sources import LocalRun, RemoteRun


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def resuming_executor(run_dir: Path):
    """Continues the 3-epoch run in `run_dir` for a 4th epoch, writing metrics.jsonl before the
    screen's sink hears each event (the writer is the bus's first sink)."""
    earlier = records(run_dir)
    started = next(r for r in earlier if r["event"] == "started")
    epoch = [r for r in earlier if r["event"] == "epoch"][-1]

    def execute(config, preset, *, sinks, control: Control, out=None, resume=None):
        lines = [
            {**started, "start_epoch": 3, "epochs": 4, "run_dir": str(run_dir)},
            {**epoch, "epoch": 4, "epochs": 4},
        ]
        for line in lines:
            with open(run_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(line) + "\n")
            for sink in sinks:
                sink(from_record(line))
        return RunFinished("completed", {"status": "completed"}, "")

    return execute


def test_a_resumed_run_in_the_console_shows_its_earlier_epochs(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "quickstart", "r1", epochs=3)
    request = SimpleNamespace(config={}, preset="quickstart", out=None, resume=str(run_dir))
    seen: list[Any] = []
    source = LocalRun(request, resuming_executor(run_dir))
    source.run(seen.append, lambda: False)
    epochs = [e.epoch for e in seen if isinstance(e, EpochEnd)]
    assert epochs == [1, 2, 3, 4]  # the history first, then the new epoch
    starts = [i for i, e in enumerate(seen) if isinstance(e, RunStarted)]
    assert len(starts) == 2 and seen[starts[-1]].start_epoch == 3
    assert not any(isinstance(e, RunFinished) for e in seen)  # the earlier session's end: not shown
    watched: list[Any] = []  # watch after the fact sees the same epochs
    RemoteRun(run_dir)._replay(watched.append, 0, None)
    assert [e.epoch for e in watched if isinstance(e, EpochEnd)] == epochs


def test_a_fresh_run_gets_no_history(tmp_path: Path) -> None:
    run_dir = tmp_path / "quickstart" / "fresh"
    run_dir.mkdir(parents=True)
    template = make_run(tmp_path, "other", "t", epochs=1)
    started = next(r for r in records(template) if r["event"] == "started")

    def execute(config, preset, *, sinks, control, out=None, resume=None):
        event = from_record({**started, "run_dir": str(run_dir)})
        (run_dir / "metrics.jsonl").write_text(json.dumps(to_record(event, 1.0)) + "\n")
        for sink in sinks:
            sink(event)
        return RunFinished("completed", {"status": "completed"}, "")

    seen: list[Any] = []
    request = SimpleNamespace(config={}, preset="quickstart", out=None, resume=None)
    LocalRun(request, execute).run(seen.append, lambda: False)
    assert [type(e) for e in seen] == [RunStarted]
