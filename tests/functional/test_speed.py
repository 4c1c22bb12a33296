"""One speed everywhere: the engine's rate, as the console, tqdm, plain lines, watch and the
summary show it (issue 17: "2.8it/s, 80 samples/s then 38.2it/s, 118 samples/s")."""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
import time

from support.runs import TINY, Recorder

from tui_trainer import formatting as fmt
from tui_trainer.config import load_config
from tui_trainer.engine import rate
from tui_trainer.engine.rate import RateMeter, mean_samples_per_second
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import (
    EpochEnd,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    StepProgress,
)
from tui_trainer.runlog.records import from_record, to_record
from tui_trainer.session import execute
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.screens.summary import result_lines
from tui_trainer.tui.widgets.progress import RunProgress

BATCH, IT_S, STEPS = 32, 38.2, 100


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def stream_of_events() -> list:
    """A steady run as the engine reports it: 2 epochs, progress every 10 its, one summary."""
    meter = RateMeter()
    config = {
        "data": {"batch_size": BATCH, "name": "digits"},
        "accumulate": 2,
        "model": {"name": "cnn"},
    }
    config |= {"progress": {"plain_interval": 0.0}}
    events: list = [
        RunStarted("runs/x", "demo", config, "cpu", "fp32", 2, 0, STEPS, 10, 10, "classification",
                   ["a", "b"])
    ]  # fmt: skip
    done = 0
    for epoch in (1, 2):
        for step in range(10, STEPS + 1, 10):
            done += 10
            clock = done / IT_S
            r = meter.update(clock, epoch, step, STEPS, done * BATCH)
            events.append(
                StepProgress(epoch, 2, step, STEPS, done // 2, 0.5, 0.1, r.samples_per_second,
                             clock, steps_per_second=r.steps_per_second,
                             epoch_elapsed=clock - (epoch - 1) * STEPS / IT_S)
            )  # fmt: skip
        events.append(EpochEnd(epoch, 2, {"train_loss": 0.5, "val_loss": 0.6}, 3.0, True,
                               "val_loss", 0.6, epoch))  # fmt: skip
    train_seconds = done / IT_S
    mean = mean_samples_per_second(done * BATCH, train_seconds)
    summary = {"status": "completed", "epochs_completed": 2, "wall_seconds": 7.0,
               "train_seconds": train_seconds, "samples_per_second": mean}  # fmt: skip
    events.append(RunFinished("completed", summary, ""))
    return events


SHOWN = fmt.speed(IT_S, IT_S * BATCH)  # "38.2it/s, 1.22k samples/s"


def test_every_front_end_shows_the_same_speed() -> None:
    events = stream_of_events()
    assert SHOWN == "38.2it/s, 1.22k samples/s"

    # tqdm on a terminal: the engine's figures in the bracket, never tqdm's own clock
    tty = FakeTTY()
    plain = io.StringIO()
    sinks = [ConsoleSink(tty), ConsoleSink(plain, tty=False)]
    model, watched = RunModel(), RunModel()
    first_shown: list[str] = []
    for event in events:
        for sink in sinks:
            sink(event)
        model.apply(event)
        # the watch path: the metrics.jsonl record (also streamed to watchers) read back
        back = from_record(json.loads(json.dumps(to_record(event, 0.0))), event_config(event))
        assert back is not None
        watched.apply(back)
        if isinstance(event, StepProgress) and not first_shown:
            first_shown.append(fmt.speed(model.progress.it_per_second,
                                         model.progress.samples_per_second))  # fmt: skip
    assert first_shown == ["–it/s, – samples/s"]  # the first point is only a baseline
    text = tty.getvalue()
    assert SHOWN in text and "–it/s, – samples/s" in text
    assert not re.search(r"\d(it|step)/s\]", text)  # tqdm's own rate is not in the bar
    assert "00:00<00:02" in text  # epoch 2 starts its own clock (the epoch's elapsed<remaining)
    lines = plain.getvalue()
    assert SHOWN in lines
    # the summary, printed and on the summary screen: the mean over the same training clock
    assert "1.22k samples/s (mean over training time)" in lines
    finished = events[-1]
    assert "1.22k samples/s" in result_lines(finished, model).plain

    p, w = model.progress, watched.progress
    assert fmt.speed(p.it_per_second, p.samples_per_second) == SHOWN
    assert (w.it_per_second, w.samples_per_second) == (p.it_per_second, p.samples_per_second)
    assert (w.elapsed, w.epoch_elapsed) == (p.elapsed, p.epoch_elapsed)


def event_config(event) -> dict:
    return event.config if isinstance(event, RunStarted) else {}


def test_the_console_step_bar_shows_the_epochs_clocks_and_the_engines_rates() -> None:
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield RunProgress(id="progress")

    events = stream_of_events()
    model = RunModel()
    for event in events[: 1 + 10 + 1 + 3]:  # epoch 2, step 30
        model.apply(event)

    async def scenario() -> str:
        app = One()
        async with app.run_test(size=(120, 4)) as pilot:
            widget = app.query_one(RunProgress)
            widget.show(model.progress, model.state)
            await pilot.pause()
            return widget.render().plain  # type: ignore[union-attr]

    shown = asyncio.run(scenario())
    step_line = shown.splitlines()[1]
    epoch_elapsed = fmt.duration(30 / IT_S)  # not the run's 130 its
    remaining = fmt.duration(70 / IT_S)
    assert f"[{epoch_elapsed}<{remaining}, {SHOWN}]" in step_line
    assert f"elapsed {fmt.duration(130 / IT_S)}" in shown.splitlines()[0]


def test_the_engine_reports_one_speed_with_pauses_left_out(tmp_path, monkeypatch) -> None:
    """A real run, accumulate 2: rates come with the events, samples/it is the batch, the first
    point has none, every epoch reports its end, and a pause does not count as training."""
    monkeypatch.setattr(rate, "MIN_WINDOW_SECONDS", 0.0)
    control = Control()
    walls: list[float] = []

    class Pauser(Recorder):
        def __call__(self, event) -> None:
            super().__call__(event)
            walls.append(time.monotonic())
            steps = [e for e in self.events if isinstance(e, StepProgress)]
            if isinstance(event, StepProgress) and len(steps) == 3:
                control.pause()
                threading.Timer(0.5, control.resume).start()

    sink = Pauser()
    overrides = [*TINY, "accumulate=2", f"out={tmp_path}"]  # micro-batches of 64
    config, name = load_config("quickstart", overrides)
    finished = execute(config, name, sinks=[sink], control=control)
    assert finished.status == "completed"
    events = sink.events
    steps = [e for e in events if isinstance(e, StepProgress)]
    assert steps[0].steps_per_second is None and steps[0].samples_per_second is None
    for epoch in (1, 2):
        assert [e.step for e in steps if e.epoch == epoch][-1] == steps[0].steps
    with_rates = [e for e in steps if e.steps_per_second is not None]
    assert len(with_rates) >= len(steps) - 1
    for e in with_rates:
        assert e.samples_per_second is not None
        assert 32 <= e.samples_per_second / e.steps_per_second <= 64  # its of 64 samples
        assert e.step % 2 == 0 or e.step == e.steps  # reported at optimizer-step boundaries
    i_pause = next(i for i, e in enumerate(events) if isinstance(e, Paused))
    i_resume = next(i for i, e in enumerate(events) if isinstance(e, Resumed))
    before = [e for e in events[:i_pause] if isinstance(e, StepProgress)][-1]
    after = next(e for e in events[i_resume:] if isinstance(e, StepProgress))
    wall = walls[events.index(after)] - walls[events.index(before)]
    assert wall >= 0.45 and after.elapsed - before.elapsed <= wall - 0.45
    summary = finished.summary
    assert summary["train_seconds"] >= steps[-1].elapsed - 1e-3  # the same clock, run to its end
    assert summary["wall_seconds"] - summary["train_seconds"] >= 0.45  # the pause left out
    assert summary["samples_per_second"] > 0


def test_the_epoch_bar_keeps_its_place_and_a_gap_however_many_epochs() -> None:
    """`Epoch 101/400` never runs into its bar, and the bar starts in the same column from the
    first epoch to the last."""
    from textual.app import App, ComposeResult

    from tui_trainer.tui.model import Progress

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield RunProgress(id="progress")

    async def scenario() -> list[str]:
        app = One()
        lines = []
        async with app.run_test(size=(100, 4)) as pilot:
            widget = app.query_one(RunProgress)
            for epoch in (1, 99, 101, 400):
                widget.show(Progress(epoch=epoch, epochs=400, step=3, steps=45), "running")
                await pilot.pause()
                lines.append(widget.render().plain.splitlines()[0])  # type: ignore[union-attr]
        return lines

    lines = asyncio.run(scenario())
    starts = {line.index("━") for line in lines}
    assert len(starts) == 1, lines
    assert all(line[line.index("━") - 1] == " " for line in lines), lines
