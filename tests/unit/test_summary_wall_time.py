"""The console's summary and its last lines give a resumed run's wall time over every segment
(`wall_seconds_total`), and this segment's beside it."""

from __future__ import annotations

from tui_trainer.runlog.events import RunFinished
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.screens.summary import result_lines

SUMMARY = {
    "status": "completed",
    "epochs_completed": 6,
    "best": {"metric": "val_accuracy", "value": 0.97, "epoch": 6},
    "final": {"epoch": 6, "val_accuracy": 0.97},
    "wall_seconds": 2.5,
    "wall_seconds_total": 75.0,
    "samples_per_second": 1000.0,
}


def test_the_summary_screen_shows_the_total_and_the_segment() -> None:
    text = result_lines(RunFinished("completed", dict(SUMMARY), "report"), RunModel()).plain
    assert "75.0 s (2.5 s since the resume)" in text


def test_a_run_in_one_segment_shows_one_time() -> None:
    one = {**SUMMARY, "wall_seconds_total": 2.5}
    text = result_lines(RunFinished("completed", one, "report"), RunModel()).plain
    assert "2.5 s" in text and "since the resume" not in text


def test_the_console_lines_give_the_total(capsys) -> None:
    sink = ConsoleSink(tty=False)
    sink(RunFinished("completed", dict(SUMMARY), "report"))
    captured = capsys.readouterr()
    assert "1:15 wall" in captured.out + captured.err


def test_a_watched_runs_steer_dialog_hears_unchanged(monkeypatch) -> None:
    """The run screen's control for a run in another process spells out what the run answered
    (a steer to the value in force is `unchanged`, not `sent`)."""
    from tui_trainer.remote import client

    answers = {
        "lr=0.1": {"ok": True, "state": "unchanged", "detail": "the LR is 0.1 already"},
        "lr=0.2": {"ok": True, "state": "queued", "detail": "lr=0.2"},
        "lr=-1": {"ok": False, "error": "lr: expected a positive number"},
    }
    monkeypatch.setattr(client, "request", lambda _d, _c, timeout, change: answers[change])
    control = client.RemoteControl("run", notify=lambda _text: None)
    assert control.submit_steer("lr=0.1") == ("unchanged", "the LR is 0.1 already")
    assert control.submit_steer("lr=0.2") == ("queued", "lr=0.2")
    assert control.submit_steer("lr=-1") == ("refused", "lr: expected a positive number")
    assert control.steer("lr=0.1") is None and control.steer("lr=-1")
