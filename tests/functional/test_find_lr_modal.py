"""The LR finder from the setup screen: f6 runs the range test on the toggles' config in a
thread worker, the modal plots the curve, and "Use it" puts the suggestion in the LR field."""

from __future__ import annotations

import threading

import pytest
from support.pilot import NoGpuPanel, demo_presets, run, wait_for, wait_for_text
from textual.widgets import Button, Input

from tui_trainer.config.loader import PresetInfo
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens import find_lr
from tui_trainer.tui.screens.find_lr import FindLRScreen, LRPlot
from tui_trainer.tui.screens.setup import SetupScreen


def finder_workers(app: TrainerApp) -> list:
    return [w for w in app.workers if w.group == "find-lr" and not w.is_finished]


@pytest.fixture
def presets(tmp_path, monkeypatch) -> list[PresetInfo]:
    monkeypatch.chdir(tmp_path)
    return demo_presets(tmp_path)


def test_find_lr_from_setup_plots_the_curve_and_use_it_fills_the_form(presets, monkeypatch):
    monkeypatch.setattr(find_lr, "STEPS", 40)

    async def scenario() -> None:
        app = TrainerApp("digits-demo", presets=presets, gpu_panel=NoGpuPanel)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            setup = app.screen
            assert setup.query_one("#f-lr", Input).value == "0.05"
            setup.query_one("#f-lr", Input).value = "0.001"  # the form's value is what runs
            await pilot.pause()
            await pilot.press("f6")
            await wait_for(pilot, lambda: isinstance(app.screen, FindLRScreen))
            modal = app.screen
            assert modal.config.optim.lr == 0.001 and modal.steps == 40
            await wait_for(pilot, lambda: modal.finding is not None, timeout=120)
            finding = modal.finding
            assert finding is not None and finding["steps"] == 40
            suggested = float(f"{finding['suggested_lr']:.3g}")
            said = f"suggested lr {finding['suggested_lr']:.3g} ({finding['method']})"
            await wait_for_text(pilot, said, "steepest descent", "valley")
            plot = modal.query_one(LRPlot)
            assert plot.suggested == finding["suggested_lr"] and len(plot.smoothed) > 3
            assert not modal.query_one("#use-lr", Button).disabled
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            assert float(setup.query_one("#f-lr", Input).value) == suggested
            await pilot.pause()
            assert setup.validation is not None and setup.validation.config is not None
            assert setup.validation.config.optim.lr == suggested

    run(scenario())


def test_closing_the_finder_leaves_the_form_as_it_was(presets, monkeypatch):
    monkeypatch.setattr(find_lr, "STEPS", 400)
    # Held after its third step until the modal is closed: still running when the test looks
    # (a quiet machine finished, or diverged, before the first look).
    gate = threading.Event()
    shown = FindLRScreen._step

    def held(self: FindLRScreen, step: int, lr: float, loss: float) -> None:
        shown(self, step, lr, loss)
        if len(self._points) >= 3:
            gate.wait(60)

    monkeypatch.setattr(FindLRScreen, "_step", held)

    async def scenario() -> None:
        app = TrainerApp("digits-demo", presets=presets, gpu_panel=NoGpuPanel)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            setup = app.screen
            await pilot.click("#find-lr")
            await wait_for(pilot, lambda: isinstance(app.screen, FindLRScreen))
            modal = app.screen
            await wait_for(pilot, lambda: bool(modal._points), timeout=60)
            assert modal.query_one("#use-lr", Button).disabled  # nothing to use yet
            await pilot.press("u")  # ignored until there is a suggestion
            assert app.screen is modal
            await pilot.press("escape")
            gate.set()
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            assert setup.query_one("#f-lr", Input).value == "0.05"
            # the test stops at its next step: no worker of the finder is left running
            await wait_for(pilot, lambda: not finder_workers(app), timeout=60)

    run(scenario())


def test_find_lr_is_refused_while_a_toggle_is_invalid(presets):
    async def scenario() -> None:
        app = TrainerApp("digits-demo", presets=presets, gpu_panel=NoGpuPanel)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            app.screen.query_one("#f-lr", Input).value = "fast"
            await pilot.pause()
            await wait_for_text(pilot, "optim.lr: expected a number, got 'fast'")
            await pilot.press("f6")
            await pilot.pause(0.3)
            assert isinstance(app.screen, SetupScreen)  # refused: no modal, no finder
            assert not any(isinstance(s, FindLRScreen) for s in app.screen_stack)
            assert not finder_workers(app)

    run(scenario())
