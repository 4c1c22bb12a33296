"""A validation pass reports its progress: throttled `validating` records in metrics.jsonl and on
the socket's stream, the run screen's second bar, the headless bar and plain lines, and the stall
rule timing a hung validation batch (tiny real runs with a slow validation set)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from pathlib import Path

import pytest
from support.runs import Recorder, run_preset
from textual.app import App, ComposeResult

from tui_trainer.config.alerts import StallRule
from tui_trainer.engine.reporting import ValidationReporter
from tui_trainer.engine.watch_rules import Stall
from tui_trainer.remote import commands as remote_commands
from tui_trainer.remote.connection import Client, JsonlTail
from tui_trainer.remote.runstate import RunState
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import (
    Alert,
    EpochEnd,
    RunStarted,
    StepProgress,
    ValidationProgress,
)
from tui_trainer.runlog.reader import read_run
from tui_trainer.runlog.records import STEP, from_record, to_record
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.widgets.progress import RunProgress

SLOW_VAL = [
    "data.name=support.userdata:SleepyDigits",
    "data.kwargs={part: train, sleep: 0, limit: 32}",
    "data.val_kwargs={part: val, sleep: 0.03, limit: 32}",  # 4 batches of ~0.24 s
    "data.val_batch_size=8",
    "data.num_workers=0",
    "data.batch_size=8",
    "progress.interval=0.1",
    "progress.plain_interval=0.01",
]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def step(epoch: int, done: int, steps: int = 4) -> StepProgress:
    return StepProgress(epoch, 2, done, steps, done, 0.5, 0.1, None, float(done))


def test_a_slow_validation_pass_reports_its_batches_between_the_last_step_and_the_epoch(
    tmp_path: Path,
) -> None:
    recorder, plain = Recorder(), io.StringIO()
    finished, run_dir = run_preset(
        tmp_path, SLOW_VAL, sinks=[recorder, ConsoleSink(plain, tty=False)]
    )
    assert finished.status == "completed"
    events = recorder.events
    for epoch in (1, 2):
        last_step = max(
            i for i, e in enumerate(events) if isinstance(e, StepProgress) and e.epoch == epoch
        )
        end = next(i for i, e in enumerate(events) if isinstance(e, EpochEnd) and e.epoch == epoch)
        passes = [e for e in events if isinstance(e, ValidationProgress) and e.epoch == epoch]
        assert len(passes) >= 2, passes  # ~1 s of validation at a 0.1 s interval
        assert all(last_step < events.index(e) < end for e in passes)
        assert all(e.batches == 4 and 1 <= e.batch <= 4 and e.epochs == 2 for e in passes)
        batches = [e.batch for e in passes]
        seconds = [e.seconds for e in passes]
        assert batches == sorted(batches) and seconds == sorted(seconds) and seconds[0] > 0
        assert batches[-1] == 4  # the pass says its batches are all done

    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    kept = [r for r in lines if r["event"] == "validating"]
    assert len(kept) == len(recorder.of(ValidationProgress))
    assert [from_record(r) for r in kept] == recorder.of(ValidationProgress)
    record = read_run(run_dir)  # readers take the new records in their stride
    assert [r["epoch"] for r in record.epoch_rows] == [1, 2] and record.status == "completed"
    assert "epoch 1/2  validating " in plain.getvalue() and "/4 (" in plain.getvalue()


def test_a_hung_validation_batch_trips_the_stall_rule_naming_the_pass(tmp_path: Path) -> None:
    """A validation batch that takes longer than `alerts.stall.seconds` is a stall (it was not
    timed at all before): the alert says it waited on a validation batch. (The watchdog looks
    once a second, so the batch takes 2 s.)"""
    recorder = Recorder()
    finished, _ = run_preset(
        tmp_path,
        [
            *SLOW_VAL,
            "data.val_kwargs={part: val, sleep: 0.25, limit: 8}",  # one batch of ~2 s
            "epochs=1",
            "alerts.stall.seconds=0.3",
        ],
        sinks=[recorder],
    )
    assert finished.status == "completed"
    stalls = [a for a in recorder.of(Alert) if a.rule == "stall"]
    assert any("no validation batch finished" in a.message for a in stalls), stalls
    assert any("epoch 1, validating" in a.message for a in stalls), stalls


def test_the_stall_clock_runs_through_validation_and_names_what_it_waits_for() -> None:
    stall = Stall(StallRule(seconds=10))
    stall.observe(step(1, 2), 0.0)
    stall.observe(step(1, 4), 1.0)  # the epoch's last step: validation follows, still timed
    assert stall.tick(10.5) is None
    stall.observe(ValidationProgress(1, 2, 3, 9, 2.0), 5.0)
    assert stall.tick(14.0) is None
    trip = stall.tick(15.5)
    assert trip is not None and "no validation batch finished for" in trip.message
    assert "epoch 1, validating, after batch 3/9" in trip.message
    stall.observe(ValidationProgress(1, 2, 9, 9, 3.0), 16.0)  # all done: metrics computed
    assert stall.tick(100.0) is None  # (a COCO evaluation may take long): not a stall
    stall.observe(EpochEnd(1, 2, {}, 1.0, False, "val_loss", None, None), 20.0)
    trip = stall.tick(31.0)
    assert trip is not None and "no training step finished" in trip.message
    assert "start of epoch 2" in trip.message


def test_the_reporter_throttles_to_the_interval_and_never_says_more_batches_than_done() -> None:
    now = [0.0]
    sent: list[ValidationProgress] = []
    report = ValidationReporter(sent.append, 3, 5, batches=10, interval=1.0, clock=lambda: now[0])
    for batch in range(1, 13):  # a loader longer than it said (an iterable dataset)
        now[0] += 0.4
        report(batch)
    assert [e.batch for e in sent] == [3, 6, 9, 12]  # every 1.2 s: the first batch past 1 s
    assert [e.batches for e in sent] == [10, 10, 10, 12]
    assert [round(e.seconds, 6) for e in sent] == [1.2, 2.4, 3.6, 4.8]
    assert all(e.epoch == 3 and e.epochs == 5 for e in sent)
    report.done(12)  # said already: nothing more
    assert len(sent) == 4
    now[0] += 0.1
    report.done(13)  # one more came after the last event: the end is said
    assert (sent[-1].batch, sent[-1].batches) == (13, 13)

    short: list[ValidationProgress] = []
    quick = ValidationReporter(short.append, 1, 1, batches=3, interval=1.0, clock=lambda: 0.0)
    for batch in (1, 2, 3):
        quick(batch)
    quick.done(3)
    assert short == []  # a pass shorter than the interval writes nothing at all


def test_records_round_trip_and_a_damaged_one_is_skipped() -> None:
    event = ValidationProgress(2, 5, 7, 40, 3.25)
    record = to_record(event, 100.0)
    assert record["event"] == "validating" and from_record(json.loads(json.dumps(record))) == event
    assert from_record({**record, "batch": 41}) is None  # more done than the pass has
    assert from_record({k: v for k, v in record.items() if k != "batches"}) is None


def test_a_slow_subscriber_may_miss_validation_progress_as_it_may_miss_steps(
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "metrics.jsonl"
    lines = [to_record(ValidationProgress(1, 2, b, 9, b), 1.0) for b in (1, 2)]
    lines.append(to_record(step(1, 1), 1.0))
    metrics.write_text("".join(json.dumps(r) + "\n" for r in lines))
    tail = JsonlTail(metrics)
    assert [kind for _, kind, _ in tail.read_new()] == [STEP, STEP, STEP]

    a, b = socket.socketpair()
    try:
        client = Client(a)
        client.queued = 1 << 15  # backlogged past the coalescing mark
        client.out.append((STEP, b"x" * 10))
        client.push(STEP, b'{"seq":3,"event": "validating"}\n')
        assert len(client.out) == 1  # the older progress line was replaced, not added to
    finally:
        a.close()
        b.close()


def test_the_run_screen_shows_the_pass_in_place_of_the_step_bar() -> None:
    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield RunProgress(id="progress")

    config = {"data": {"batch_size": 8}, "accumulate": 1}
    model = RunModel()
    model.apply(RunStarted("r", "p", config, "cpu", "fp32", 2, 0, 4, 1, 1, "classification", []))
    model.apply(step(1, 4))
    model.apply(ValidationProgress(1, 2, 30, 120, 10.0))

    async def scenario() -> tuple[str, str]:
        app = One()
        async with app.run_test(size=(100, 4)) as pilot:
            widget = app.query_one(RunProgress)
            widget.show(model.progress, model.state)
            await pilot.pause()
            during = widget.render().plain  # type: ignore[union-attr]
            model.apply(EpochEnd(1, 2, {"val_loss": 0.3}, 11.0, True, "val_loss", 0.3, 1))
            widget.show(model.progress, model.state)
            await pilot.pause()
            return during, widget.render().plain  # type: ignore[union-attr]

    during, after = asyncio.run(scenario())
    line = during.splitlines()[1]
    assert line.startswith("val") and "30/120" in line and " 25% " in line
    assert "[00:10<00:30, 3.0it/s]" in line  # the pass's own clock and mean rate
    assert after.splitlines()[1].startswith("train")


def test_the_headless_bar_switches_to_validation_and_back() -> None:
    out = FakeTTY()
    sink = ConsoleSink(out, tty=True)
    sink(step(1, 4))
    sink(ValidationProgress(1, 2, 2, 8, 1.0))
    assert sink.bar is not None and sink.bar.desc == "validate 1/2" and sink.bar.n == 2
    assert "validate 1/2:  25%" in out.getvalue() and "00:01<00:03, 2.0it/s" in out.getvalue()
    sink(step(2, 1))  # the next epoch trains
    assert sink.bar is not None and sink.bar.desc == "epoch 2/2" and not sink.bar_validates


def test_status_says_the_run_validates_until_the_epoch_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = RunState(Control())
    state.track(step(1, 4))
    state.track(ValidationProgress(1, 2, 3, 9, 1.0))
    assert state.status()["validating"] == {"batch": 3, "batches": 9}
    reply = {"ok": True, **state.status(), "pid": 7}
    monkeypatch.setattr(remote_commands, "request", lambda *a, **k: reply)
    assert remote_commands.cmd_ctl(str(tmp_path), "status") == 0
    shown = capsys.readouterr().out.strip()
    assert shown == f"{tmp_path}: running, epoch 1/2, validating 3/9 (pid 7)"
    state.track(EpochEnd(1, 2, {}, 1.0, False, "val_loss", None, None))
    assert "validating" not in state.status()


def test_a_request_during_the_pass_says_it_waits_for_the_pass() -> None:
    config = {"data": {"batch_size": 8}, "accumulate": 1}
    model = RunModel()
    model.apply(RunStarted("r", "p", config, "cpu", "fp32", 2, 0, 4, 1, 1, "classification", []))
    model.apply(step(1, 2))
    assert "log" not in model.request_pause(True)  # training: the next step boundary is near
    model.request_pause(False)
    model.apply(step(1, 4))
    model.apply(ValidationProgress(1, 2, 30, 120, 10.0))
    assert "log" in model.request_pause(True)
    assert "log" in model.request_stop("step")
    assert "log" not in model.request_stop("epoch")  # after the epoch anyway: nothing to say
    said = [line.text for line in model.take_log() if "validating" in line.text]
    assert said == [
        "validating (30/120): the run pauses when the pass ends",
        "validating (30/120): the run stops when the pass ends",
    ]


def test_after_a_validation_asked_for_mid_epoch_the_next_event_restarts_the_clock() -> None:
    """`ctl validate` mid-epoch: the pass's end stops the clock (its metrics are computed),
    the steering record that follows starts it again, so a hang after it is still caught."""
    from tui_trainer.runlog.events import Steered

    stall = Stall(StallRule(seconds=10))
    stall.observe(step(1, 2), 0.0)
    stall.observe(ValidationProgress(1, 2, 9, 9, 3.0), 4.0)  # the pass ended
    assert stall.tick(50.0) is None  # computing its metrics: untimed
    steered = Steered(2, 1, "validate", "validate", None, None, "live", {"val_loss": 0.3})
    stall.observe(steered, 60.0)
    trip = stall.tick(71.0)
    assert trip is not None and "no training step finished for" in trip.message
    assert "epoch 1, after validating" in trip.message
