"""Pure parts of the console: the run model, the event bridge, the setup form, formatting."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support.scripted import ScriptedExecutor

from tui_trainer import formatting as fmt
from tui_trainer.config import load_config
from tui_trainer.errors import UserError
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    CheckpointSaved,
    EpochEnd,
    LogMessage,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    StepProgress,
)
from tui_trainer.tui.bridge import EventBridge, RunUpdate
from tui_trainer.tui.form import FormValues, validate
from tui_trainer.tui.model import RunModel

PRESET = """\
description: A tiny digits preset for the console tests
epochs: 4
data:
  name: digits
  batch_size: 32
optim:
  lr: 0.05
freeze:
  epochs: 2
"""


@pytest.fixture
def preset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(PRESET)
    return path


def step(
    epoch: int, s: int, elapsed: float, loss: float = 1.0, it_s: float | None = 20.0
) -> StepProgress:
    samples = None if it_s is None else it_s * 32
    return StepProgress(epoch, 3, s, 10, s, loss, 0.1, samples, elapsed, steps_per_second=it_s)


# -- formatting -------------------------------------------------------------------------------
def test_formatting_is_tqdm_like() -> None:
    assert fmt.duration(75) == "01:15"
    assert fmt.duration(3725) == "1:02:05"
    assert fmt.duration(None) == "?"
    assert fmt.rate(12.34) == "12.3it/s"
    assert fmt.rate(0.5) == "2.00s/it"
    assert fmt.rate(None) == "–it/s" and fmt.samples_rate(None) == "– samples/s"
    assert fmt.speed(38.2, 1222.4) == "38.2it/s, 1.22k samples/s"
    assert fmt.count(1234) == "1.23k"
    assert fmt.metric("val_accuracy", 0.9781) == "97.81%"
    assert fmt.metric("val_dice", 0.5) == "0.5000"
    assert fmt.metric_label("val_accuracy") == "val acc"
    assert fmt.plain_value(None) == "" and fmt.plain_value(True) == "true"


# -- the run model ----------------------------------------------------------------------------
def test_model_rates_eta_and_changed_parts() -> None:
    model = RunModel()
    assert model.state == "starting"
    assert model.apply(step(1, 2, 1.0, it_s=None)) == {"progress", "charts"}
    p = model.progress
    assert p.it_per_second is None and p.epoch_eta is None  # no rate yet: no ETA either
    model.apply(step(1, 6, 2.0, it_s=2.6))  # the engine's smoothed rate, shown as sent
    assert p.it_per_second == pytest.approx(2.6) and p.samples_per_second == pytest.approx(83.2)
    assert p.epoch_eta == pytest.approx(4 / p.it_per_second)
    assert p.run_eta == pytest.approx(p.epoch_eta + 2 * 10 / p.it_per_second)
    end = EpochEnd(1, 3, {"train_loss": 1.0, "val_loss": 0.9, "val_accuracy": 0.5}, 4.0, True,
                   "val_accuracy", 0.5, 1)  # fmt: skip
    assert model.apply(end) == {"table", "charts", "progress"}
    assert model.progress.step == 10 and model.curves.val_loss == [(1.0, 0.9)]
    model.apply(step(2, 5, 3.0, it_s=2.6))
    assert model.progress.run_eta == pytest.approx(model.progress.epoch_eta + 1 * 4.0)
    assert model.apply(LogMessage("warning", "careful")) == {"log"}
    assert model.take_log()[-1].text == "careful" and model.take_log() == []


def test_epochs_without_progress_still_chart_and_never_guess_a_speed() -> None:
    """Older runs' records may have epochs without progress: chart the epoch's own numbers,
    but leave the speed to the engine's rate (no second definition here)."""
    model = RunModel()
    model.apply(
        RunStarted("runs/x", "demo", {"data": {"batch_size": 32}}, "cpu", "fp32", 3, 0, 10,
                   100, 100, "classification", ["a", "b"])
    )  # fmt: skip
    metrics = {"train_loss": 0.5, "val_loss": 0.6, "lr": 0.01}
    model.apply(EpochEnd(1, 3, metrics, 0.5, True, "val_accuracy", 0.9, 1))
    p = model.progress
    assert model.curves.train.ys == [0.5] and model.curves.lr.ys == [0.01]
    assert model.loss == 0.5 and model.lr == 0.01
    assert p.it_per_second is None and p.samples_per_second is None
    assert p.elapsed == pytest.approx(0.5)
    model.apply(step(2, 5, 0.4))  # train-only seconds: the clock does not go back
    assert p.elapsed == pytest.approx(0.5)


def test_model_states_follow_requests_then_events() -> None:
    model = RunModel()
    model.apply(step(1, 1, 0.1))
    model.started = True
    assert model.state == "running"
    model.request_pause(True)
    assert model.state == "pausing"
    model.apply(Paused(1, 2))
    assert model.state == "paused"
    model.request_checkpoint()
    assert model.state == "checkpointing"
    model.apply(CheckpointSaved("runs/x/checkpoints/last.pt", "request", 0, 2))
    assert model.state == "paused"
    assert "runs/x/checkpoints/last.pt" in model.take_log()[-1].text
    model.request_pause(False)
    assert model.state == "resuming"
    model.apply(Resumed(1, 2))
    assert model.state == "running"
    model.request_stop("epoch")
    assert model.state == "stopping"
    model.apply(RunFinished("stopped", {"status": "stopped"}, ""))
    assert model.state == "stopped" and not model.active


def test_model_failure_keeps_the_traceback_in_the_log() -> None:
    model = RunModel()
    tb = "Traceback (most recent call last):\n  File x\nRuntimeError: boom\n"
    model.apply(RunFinished("failed", {}, "", error="RuntimeError: boom", traceback=tb))
    lines = model.take_log()
    assert model.state == "failed"
    assert lines[0].level == "error" and "boom" in lines[0].text
    assert [line.text for line in lines[1:]] == tb.rstrip().splitlines()


# -- the bridge: coalescing, never blocking ---------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.posted = 0

    def post_message(self, message: object) -> bool:
        assert isinstance(message, RunUpdate)
        self.posted += 1
        return True


def test_bridge_posts_once_per_batch() -> None:
    target = Recorder()
    bridge = EventBridge(target)
    for i in range(50):
        bridge(step(1, i, i * 0.1))
    assert target.posted == 1  # 50 events, one wake-up
    assert len(bridge.take()) == 50
    bridge(LogMessage("info", "x"))
    assert target.posted == 2
    result = RunFinished("completed", {}, "")
    bridge(result)
    bridge.finish(RunFinished("failed", {}, ""))  # already finished: ignored
    assert [type(e).__name__ for e in bridge.take()] == ["LogMessage", "RunFinished"]


def test_bridge_from_many_threads_loses_nothing() -> None:
    bridge = EventBridge(Recorder())
    threads = [
        threading.Thread(target=lambda: [bridge(LogMessage("info", "x")) for _ in range(500)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    taken = 0
    while any(t.is_alive() for t in threads):
        taken += len(bridge.take())
    taken += len(bridge.take())
    assert taken == 2000


# -- the setup form ---------------------------------------------------------------------------
def test_form_overrides_only_what_changed(preset: Path) -> None:
    base, _ = load_config(preset, [])
    values = FormValues.from_config(base)
    assert values.field_overrides(base) == {}
    values.precision, values.freeze, values.accumulate = "bf16", True, "4"
    values.scheduler, values.params["cosine"] = "cosine", "0.001"
    result = validate(preset, base, values, ["data.num_samples=100"])
    assert result.ok and result.errors == {}
    assert result.overrides == [
        "data.num_samples=100",
        "freeze.enabled=true",
        "precision=bf16",
        "scheduler.name=cosine",
        "accumulate=4",
        "scheduler.min_lr=0.001",
    ]
    assert result.config is not None and result.config.scheduler.min_lr == 0.001


def test_form_errors_are_the_cli_messages_per_field(preset: Path) -> None:
    base, _ = load_config(preset, [])
    values = FormValues.from_config(base)
    values.epochs, values.lr, values.accumulate = "abc", "-1", "0"
    result = validate(preset, base, values, [])
    assert not result.ok
    for field, item in [
        ("epochs", "epochs=abc"),
        ("lr", "optim.lr=-1"),
        ("accumulate", "accumulate=0"),
    ]:
        with pytest.raises(UserError) as cli:
            load_config(preset, [item])
        assert result.errors[field] == str(cli.value)  # the very message the CLI prints
    values.epochs, values.lr, values.accumulate = "1", "0.05", "1"  # now freeze.epochs (2) > 1
    values.freeze = True  # checked only where freezing is on
    result = validate(preset, base, values, [])
    assert "freeze.epochs: must not exceed epochs (1), got 2" in result.errors["freeze_epochs"]
    result = validate(preset, base, FormValues.from_config(base), ["data.bogus=1"])
    assert result.general is not None and "data.bogus: unknown key" in result.general


def test_form_takes_command_line_overrides(preset: Path) -> None:
    base, _ = load_config(preset, [])
    values, rest = FormValues.from_config(base).with_overrides(
        ["epochs=7", "scheduler.min_lr=0.01", "freeze.enabled=true", "data.num_samples=99"]
    )
    assert (values.epochs, values.params["cosine"], values.freeze) == ("7", "0.01", True)
    assert rest == ["data.num_samples=99"]


# -- the scripted executor honours Control like the engine ------------------------------------
def test_scripted_executor_pause_checkpoint_stop() -> None:
    control, events = Control(), []
    script = ScriptedExecutor(epochs=3, steps=6)

    def sink(event: object) -> None:
        events.append(event)
        if isinstance(event, StepProgress) and event.epoch == 1 and event.step == 3:
            control.pause()
        if isinstance(event, Paused):
            control.request_checkpoint()
            threading.Timer(0.05, control.request_stop, (StopMode.EPOCH,)).start()

    result = script(None, "demo", sinks=[sink], control=control)
    names = [type(e).__name__ for e in events]
    assert names.index("Paused") < names.index("CheckpointSaved") < names.index("Resumed")
    assert result.status == "stopped" and result.summary["epochs_completed"] == 1
