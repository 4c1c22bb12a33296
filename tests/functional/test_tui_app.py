"""The console driven with Pilot on a scripted trainer: setup → run → keys → summary → new run.

The scripted executor replays a fixed run through the same sinks and `Control` as the engine
(see tests/support/scripted.py), so these tests are fast and deterministic; the real engine is
driven in test_tui_engine.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.pilot import (
    NoGpuPanel,
    demo_presets,
    run,
    run_screen,
    screen_text,
    wait_for,
    wait_for_text,
)
from support.scripted import ScriptedExecutor
from textual.widgets import Button, Input

from tui_trainer.config.loader import PresetInfo
from tui_trainer.errors import UserError
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.dialogs import ConfirmQuit, HelpScreen
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.screens.summary import SummaryScreen
from tui_trainer.tui.widgets.epoch_table import EpochTable
from tui_trainer.tui.widgets.run_log import RunLog


@pytest.fixture
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[PresetInfo]:
    monkeypatch.chdir(tmp_path)
    return demo_presets(tmp_path)


def make_app(presets: list[PresetInfo], script: ScriptedExecutor, **kwargs: Any) -> TrainerApp:
    return TrainerApp(
        "digits-demo", executor=script, presets=presets, gpu_panel=NoGpuPanel, **kwargs
    )


def test_setup_start_pause_checkpoint_stop_summary_new_run(presets: list[PresetInfo]) -> None:
    script = ScriptedExecutor(epochs=3, steps=12, hold=(1, 3))

    async def scenario() -> None:
        app = make_app(presets, script)
        async with app.run_test(size=(80, 24)) as pilot:
            text = screen_text(app)
            for seen in ("digits-demo", "Freeze backbone", "Precision", "Scheduler", "Accumulate"):
                assert seen in text
            assert "effective batch 32" in text
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            run = run_screen(app)
            await wait_for(pilot, lambda: run.model.progress.step == 3)
            text = screen_text(app)
            assert "Epoch 1/3" in text and "3/12" in text and "RUNNING" in text

            await pilot.press("p")  # the script is held mid-step: the screen says so at once
            assert "PAUSING" in screen_text(app)
            script.release()
            await wait_for_text(pilot, "PAUSED", "p Resume")
            # (That the clock stops while paused is checked on the real engine, whose clock
            # runs: test_pause_takes_effect_within_a_tenth_of_a_second_while_training.)

            await pilot.press("c")  # saved while paused, path in the log
            await wait_for_text(pilot, "checkpoint saved (request")
            log = run.query_one("RunLog").plain_text
            assert "runs/scripted/20250101-000000/checkpoints/last.pt" in log

            await pilot.press("s")  # stop after this epoch (the stop also resumes the run)
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            text = await wait_for_text(pilot, "STOPPED", "n New run")
            assert "1/3 epochs" in text
            assert "tui-trainer replay runs/scripted/20250101-000000" in text
            assert "precision" in text and "recall" in text  # the per-class report
            assert run.summary()["status"] == "stopped"

            await pilot.press("b")  # back to the run view: the table has the one epoch
            assert isinstance(app.screen, RunScreen)
            assert run.query_one(EpochTable).row_count == 1
            await pilot.press("n")  # n works from the run view too once the run ended
            assert isinstance(app.screen, SetupScreen)
            await pilot.press("ctrl+r")  # a second run from the same settings
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            await pilot.press("q")  # quits while held: confirm, checkpoint, exit
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmQuit))
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.is_running)
        assert app.return_code == 0
        assert script.calls == 2

    run(scenario())


def test_quit_while_running_asks_then_stops_with_a_checkpoint(
    presets: list[PresetInfo],
) -> None:
    script = ScriptedExecutor(epochs=3, steps=12, hold=(2, 6))

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            run = run_screen(app)
            await wait_for(pilot, lambda: run.model.progress.epoch == 2)
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmQuit)
            await pilot.press("n")  # keep training
            assert isinstance(app.screen, RunScreen) and run.model.active
            await pilot.press("ctrl+q")  # the app-wide quit key asks too
            assert isinstance(app.screen, ConfirmQuit)
            log = run.query_one(RunLog)
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.is_running)
        assert app.return_code == 0
        assert run.model.finished is not None and run.model.finished.status == "stopped"
        assert "checkpoint saved (stop" in log.plain_text

    run(scenario())


def test_failure_is_shown_and_the_app_stays_usable(presets: list[PresetInfo]) -> None:
    script = ScriptedExecutor(epochs=3, steps=12, fail_at=(2, 6))

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            await wait_for_text(pilot, "FAILED", "non-finite training loss at epoch 2, step 6")
            await pilot.press("b")
            log = run_screen(app).query_one(RunLog).plain_text
            assert "Traceback (most recent call last):" in log
            assert "TrainingError: NonFiniteLoss: non-finite training loss" in log
            await wait_for_text(pilot, "FAILED", "TrainingError")
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape", "n")
            assert isinstance(app.screen, SetupScreen)
            await pilot.press("ctrl+q")
        assert app.return_code == 1  # the last run failed

    run(scenario())


def test_bad_input_found_by_the_engine_goes_back_to_the_form(presets: list[PresetInfo]) -> None:
    """The run's own checks refuse it (nothing written): the form says why; no crashed run."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise UserError("weights file 'w.pt' not found", key="model.weights")

    async def scenario() -> None:
        app = TrainerApp("digits-demo", start=True, executor=refuse, presets=presets)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_text(pilot, "✖ model.weights: weights file 'w.pt' not found")
            assert isinstance(app.screen, SetupScreen)
            assert app.screen.query_one("#start", Button).disabled
            assert app.last_result is None  # no run happened

    run(scenario())


def test_invalid_values_are_flagged_inline_and_start_is_refused(
    presets: list[PresetInfo],
) -> None:
    async def scenario() -> None:
        app = make_app(presets, ScriptedExecutor())
        async with app.run_test(size=(120, 40)) as pilot:  # wide enough for whole messages
            setup = app.screen
            epochs = setup.query_one("#f-epochs", Input)
            epochs.focus()
            await pilot.press("end", "backspace", "a", "b", "c")
            await wait_for_text(pilot, "override 'epochs=abc': epochs: expected an integer, got")
            assert epochs.has_class("-invalid")
            assert setup.query_one("#start", Button).disabled
            await pilot.press("ctrl+r")
            assert isinstance(app.screen, SetupScreen)  # refused
            await pilot.press("backspace", "backspace", "backspace", "5")
            text = await wait_for_text(pilot, "epochs=5")  # the equivalent command line
            assert "expected an integer" not in text
            accumulate = setup.query_one("#f-accumulate", Input)
            accumulate.focus()
            await pilot.press("end", "backspace", "4")
            await wait_for_text(pilot, "effective batch 128")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: any(isinstance(s, RunScreen) for s in app.screen_stack))
            request = run_screen(app).request
            assert request.config.epochs == 5 and request.config.accumulate == 4
            assert request.overrides == ["accumulate=4", "epochs=5"]

    run(scenario())


def test_command_palette_has_the_run_keys(presets: list[PresetInfo]) -> None:
    script = ScriptedExecutor(hold=(1, 3))

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for title in ("Pause training", "Checkpoint now", "Stop after this epoch", "Quit"):
                assert title in titles
            run_screen(app).stop_for_exit()

    run(scenario())


def test_epoch_table_keeps_the_newest_in_view_and_scrolls_back(
    presets: list[PresetInfo],
) -> None:
    async def scenario() -> None:
        app = make_app(presets, ScriptedExecutor(epochs=12, steps=6), start=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            await pilot.press("b")
            table = run_screen(app).query_one(EpochTable)
            assert table.row_count == 12
            # 10 older epochs above the 2 shown (at 80x24 the time line takes a row)
            text = await wait_for_text(pilot, "↑10")
            assert "\n│ 12 " in text and "\n│ 10 " not in text
            table.focus()
            await pilot.press("up", "up", "up")
            text = await wait_for_text(pilot, "↑7")
            assert "\n│  8 " in text and "\n│ 12 " not in text

    run(scenario())
