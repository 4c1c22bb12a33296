"""Step lines of metrics.jsonl: written without the old always-"train" `phase`, read with it."""

from __future__ import annotations

from tui_trainer.runlog.events import StepProgress
from tui_trainer.runlog.records import from_record, to_record
from tui_trainer.tui.curves import Curves

STEP = StepProgress(2, 3, 5, 10, 15, 0.25, 0.01, 640.0, 4.0, steps_per_second=20.0)


def test_a_step_record_round_trips_without_a_phase() -> None:
    record = to_record(STEP, 1.0)
    assert "phase" not in record
    assert from_record(record) == STEP


def test_an_older_step_record_with_a_phase_still_reads() -> None:
    """Runs written before the field went carry `"phase": "train"` on every step line."""
    old = {**to_record(STEP, 1.0), "phase": "train"}
    assert from_record(old) == STEP
    curves = Curves.from_records([old])
    assert curves.train.ys == [0.25] and curves.lr.ys == [0.01]
