"""The test double of the engine (tests/support/scripted.py) speaks the engine's language.

Pilot and snapshot tests run on the fake; this contract keeps it honest against a tiny real run:
the same event types, a config the schema accepts, and the same summary keys in the same order.
"""

from __future__ import annotations

from support.scripted import ScriptedExecutor

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.control import Control
from tui_trainer.engine.events import EpochEnd, RunFinished, RunStarted
from tui_trainer.runlog import RunSummary
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
