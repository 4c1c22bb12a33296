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


def test_no_metric_displaces_an_epoch_lines_bookkeeping() -> None:
    """A metric named like a bookkeeping key (a framework's fractional `epoch`, a `time`) never
    replaces the run's own value: the line stays readable with its integer epoch."""
    from tui_trainer.runlog.events import EpochEnd

    end = EpochEnd(2, 3, {"epoch": 1.5, "time": -1.0, "val_loss": 0.5}, 4.0, True, "val_loss",
                   0.5, 2)  # fmt: skip
    record = to_record(end, 100.0)
    assert (record["epoch"], record["time"], record["val_loss"]) == (2, 100.0, 0.5)
    back = from_record(record)
    assert isinstance(back, EpochEnd) and back.epoch == 2 and back.metrics["val_loss"] == 0.5
