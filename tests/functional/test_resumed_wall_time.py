"""A resumed run's wall time counts every segment (`wall_seconds_total`, carried in the
checkpoint's progress); `wall_seconds` keeps its documented meaning (from the resume)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from support.runs import run_preset

from tui_trainer.compare import metric_rows
from tui_trainer.formatting import duration
from tui_trainer.remote.runs import inspect
from tui_trainer.runlog import read_run
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import StepProgress

FIRST_SEGMENT = 1.0  # seconds the first segment sleeps: far more than a tiny run takes


def test_a_resumed_run_counts_its_earlier_segments(tmp_path: Path) -> None:
    control = Control()

    def slow_then_stop(event: object) -> None:
        if isinstance(event, StepProgress) and event.global_step == 10:
            time.sleep(FIRST_SEGMENT)
        if isinstance(event, StepProgress) and event.global_step == 30:
            control.request_stop(StopMode.STEP, status="interrupted")

    over = ["progress.interval=1e-9", "scheduler.warmup_epochs=0"]
    first, run_dir = run_preset(tmp_path, over, sinks=[slow_then_stop], control=control)
    assert first.status == "interrupted"
    second, _ = run_preset(tmp_path, over, resume=run_dir)
    assert second.status == "completed"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["wall_seconds"] < FIRST_SEGMENT  # from the resume, as README says
    assert summary["wall_seconds_total"] >= FIRST_SEGMENT + summary["wall_seconds"]
    assert inspect(run_dir).seconds >= FIRST_SEGMENT  # `runs` and the browser's time column
    rows = dict(metric_rows([read_run(run_dir)]))  # compare and the browser's detail
    assert rows["wall time"] == [duration(summary["wall_seconds_total"])]
