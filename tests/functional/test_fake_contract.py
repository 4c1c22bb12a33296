"""The test double of the engine (tests/support/scripted.py) speaks the engine's language.

Pilot and snapshot tests run on the fake; this contract keeps it honest against a tiny real run:
the same event types, a config the schema accepts, the same summary keys in the same order, and
the same events, in the same order and with the same fields, when each is paused, steered (an LR
change) and stopped through a `Control`.
"""

from __future__ import annotations

from support.scripted import ScriptedExecutor

from tui_trainer.config.schema import RunConfig
from tui_trainer.runlog import RunSummary
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    CheckpointSaved,
    EpochEnd,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    Steered,
    StepProgress,
)
from tui_trainer.session import execute


def _real(config) -> list[object]:
    """A tiny real run that also logs (a frozen first epoch) and saves checkpoints."""
    update = {"epochs": 2, "freeze": {"enabled": True, "epochs": 1}}
    config = type(config).model_validate({**config.model_dump(), **update})
    return _events(execute, config, "quickstart")


def _events(executor, *args) -> list[object]:
    events: list[object] = []
    executor(*args, sinks=[events.append], control=Control())
    return events


def _one(events: list[object], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_fake_matches_the_engine(tiny_config) -> None:
    real = _real(tiny_config)
    fake = _events(ScriptedExecutor(epochs=2, steps=6), None, "demo")

    assert {type(e) for e in fake} <= {type(e) for e in real}
    for events in (real, fake):
        assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
        assert len(_one(events, RunFinished)) == 1
    RunConfig.model_validate(_one(fake, RunStarted)[0].config)  # a config the schema accepts

    real_metrics, fake_metrics = (_one(e, EpochEnd)[-1].metrics for e in (real, fake))
    assert set(fake_metrics) <= set(real_metrics)
    assert {"epoch", "epoch_seconds"} <= set(fake_metrics)

    real_end, fake_end = (_one(e, RunFinished)[0] for e in (real, fake))
    assert list(fake_end.summary) == list(real_end.summary)
    for end, metrics in ((real_end, real_metrics), (fake_end, fake_metrics)):
        assert end.summary["final"] == metrics  # the last epoch's metrics, flat
        assert set(end.summary["best"]) == {"metric", "value", "epoch"}
        assert set(end.summary) <= set(RunSummary.__annotations__)  # the one typed definition


def test_a_failing_fake_adds_the_error_where_the_engine_does(tiny_config) -> None:
    real = _real(tiny_config)
    fake = _events(ScriptedExecutor(epochs=2, steps=6, fail_at=(1, 3)), None, "demo")
    keys = list(_one(real, RunFinished)[0].summary)
    failed = _one(fake, RunFinished)[0]
    assert failed.status == "failed" and failed.error == failed.summary["error"]
    assert list(failed.summary) == [
        *keys[: keys.index("run_dir")],
        "error",
        *keys[keys.index("run_dir") :],
    ]
    assert "tests/support/scripted.py" in (failed.traceback or "")  # a real traceback, real file


# -- pause, steer, stop: the same requests through a Control give events of the same shape -------
LR = 0.0123


class _Driver:
    """A sink that steers the run it watches, from the training thread itself (deterministic):
    pause at the first progress event; while paused, steer the LR and resume; once the change
    took effect, stop at the next step boundary."""

    def __init__(self) -> None:
        self.control = Control()
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)
        if isinstance(event, StepProgress) and not _one(self.events, Paused):
            self.control.pause()
        elif isinstance(event, Paused):
            assert self.control.steer(f"lr={LR}") is None  # queued, not refused
            self.control.resume()
        elif isinstance(event, Steered):
            self.control.request_stop(StopMode.STEP)


def _driven(executor, *args) -> list[object]:
    driver = _Driver()
    executor(*args, sinks=[driver], control=driver.control)
    return driver.events


CONTROLLED = (Paused, Steered, Resumed, CheckpointSaved, RunFinished)


def _shape(events: list[object]) -> list[tuple]:
    """The controlled events in order, with the fields a front end relies on."""
    shape: list[tuple] = []
    for e in events:
        if isinstance(e, Paused | Resumed):
            shape.append((type(e).__name__,))
        elif isinstance(e, Steered):
            shape.append(("Steered", e.change, e.what, type(e.old), type(e.new), e.source))
        elif isinstance(e, CheckpointSaved):
            shape.append(("CheckpointSaved", e.reason))
        elif isinstance(e, RunFinished):
            shape.append(("RunFinished", e.status, e.summary["status"]))
    return shape


def test_paused_steered_and_stopped_alike(tiny_config) -> None:
    real = _driven(execute, tiny_config, "quickstart")
    fake = _driven(ScriptedExecutor(epochs=2, steps=6), None, "demo")

    expected = [
        ("Paused",),
        ("Steered", f"lr={LR}", "lr", float, float, "live"),  # honoured while paused
        ("Resumed",),
        ("CheckpointSaved", "stop"),
        ("RunFinished", "stopped", "stopped"),
    ]
    assert _shape(real) == expected
    assert _shape(fake) == expected
    for events in (real, fake):
        paused, resumed = _one(events, Paused)[0], _one(events, Resumed)[0]
        steered, saved = _one(events, Steered)[0], _one(events, CheckpointSaved)[-1]
        assert (paused.epoch, paused.step) == (resumed.epoch, resumed.step) == (1, paused.step)
        assert steered.epoch == paused.epoch and steered.new == LR and steered.metrics == {}
        assert steered.old != LR  # the LR in force before the change
        assert saved.epoch == paused.epoch - 1  # epochs completed: a mid-epoch save
        assert saved.global_step >= steered.global_step
        finished = _one(events, RunFinished)[0]
        assert finished.summary["epochs_completed"] == 0
        assert finished.summary["global_step"] == saved.global_step
        after = events[events.index(resumed) :]
        assert not _one(after, EpochEnd)  # stopped inside the first epoch


# -- detection: the fake's detection mode against a tiny real detection run ----------------------
def test_the_detection_fake_matches_a_detection_run(tmp_path) -> None:
    from support.pilot import detection_presets

    from tui_trainer.config.loader import load_config

    detection_presets(tmp_path)
    tiny = ["epochs=1", "data.num_samples=16", "data.batch_size=4", "data.image_size=64"]
    preset = str(tmp_path / "presets" / "shapes-detect.yaml")
    config, _ = load_config(preset, [*tiny, f"out={tmp_path / 'runs'}"])
    real = _events(execute, config, "shapes-detect")
    fake = _events(ScriptedExecutor(epochs=2, steps=6, task="detection"), None, "demo")

    assert {type(e) for e in fake} <= {type(e) for e in real}
    started = [_one(e, RunStarted)[0] for e in (real, fake)]
    assert [s.task for s in started] == ["detection", "detection"]
    assert started[1].class_names == started[0].class_names  # the generated shapes' kinds
    RunConfig.model_validate(started[1].config)
    real_parts, fake_parts = (_one(e, StepProgress)[-1].loss_parts for e in (real, fake))
    assert real_parts is not None and fake_parts is not None
    assert list(fake_parts) == list(real_parts)
    real_metrics, fake_metrics = (_one(e, EpochEnd)[-1].metrics for e in (real, fake))
    assert list(fake_metrics) == list(real_metrics)  # the same keys in the same order
    assert _one(fake, EpochEnd)[-1].best_metric == _one(real, EpochEnd)[-1].best_metric
    real_end, fake_end = (_one(e, RunFinished)[0] for e in (real, fake))
    assert real_end.status == "completed"
    assert list(fake_end.summary) == list(real_end.summary)
    assert fake_end.summary["best"]["metric"] == real_end.summary["best"]["metric"] == "val_map"
    real_report, fake_report = (end.report.splitlines() for end in (real_end, fake_end))
    assert fake_report[0] == real_report[0]  # the per-class table's header
    for report in (real_report, fake_report):
        assert any(line.startswith("validation image ") for line in report)
        assert any(line.startswith("┌┐ true  ┏┓ predicted") for line in report)
