"""The console as a new user meets it (issue 17): Pilot scenarios on the fake engine.

First launch and the remembered preset; Start refused inline when the run could already know it
will fail; conflicts between keys shown on a field that fixes them; edits kept per preset; the
commands that continue a run on the summary and in a dialog for copying by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pilot import PRESET, NoGpuPanel, run, run_screen, screen_text, wait_for, wait_for_text
from support.scripted import ScriptedExecutor
from textual.widgets import Button, Input, Select, TextArea

from tui_trainer.config.loader import PresetInfo
from tui_trainer.session import execute
from tui_trainer.tui import state
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.choices import CommandsDialog
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.screens.summary import SummaryScreen
from tui_trainer.tui.widgets.run_log import RunLog

FOLDER_PRESET = """\
description: Your own images (needs its folder)
epochs: 2
data: {name: imagefolder, root: data/mine, batch_size: 8}
"""
WARMUP_PRESET = PRESET + "scheduler: {name: cosine, warmup_epochs: 1}\n"


@pytest.fixture
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[PresetInfo]:
    """An alphabetically first preset that cannot run here, then quickstart, then another."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    found = []
    for name, text in (
        ("aaa-folder", FOLDER_PRESET),
        ("quickstart", WARMUP_PRESET),
        ("zzz-digits", PRESET),
    ):
        (tmp_path / "presets" / f"{name}.yaml").write_text(text)
        found.append(PresetInfo(name, Path(f"presets/{name}.yaml"), "test", False))
    return found


def app_for(presets: list[PresetInfo], executor, preset: str | None = None, **kw) -> TrainerApp:
    return TrainerApp(preset, executor=executor, presets=presets, gpu_panel=NoGpuPanel, **kw)


def setup_of(app: TrainerApp) -> SetupScreen:
    screen = app.screen
    assert isinstance(screen, SetupScreen)
    return screen


def test_first_launch_selects_quickstart_then_the_last_preset_that_ran(
    presets: list[PresetInfo],
) -> None:
    async def first() -> None:
        app = app_for(presets, ScriptedExecutor(epochs=1, steps=3))
        async with app.run_test(size=(120, 40)) as pilot:
            assert setup_of(app).preset.name == "quickstart"
            await pilot.press("down")  # zzz-digits
            assert setup_of(app).preset.name == "zzz-digits"
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))

    async def second(expected: str) -> None:
        app = app_for(presets, ScriptedExecutor())
        async with app.run_test(size=(120, 40)):
            assert setup_of(app).preset.name == expected

    run(first())
    assert state.last_preset() == "zzz-digits"
    run(second("zzz-digits"))
    state.remember_preset("a-preset-since-deleted")
    run(second("quickstart"))


def test_missing_data_refuses_start_inline_and_nothing_runs(presets: list[PresetInfo]) -> None:
    script = ScriptedExecutor(epochs=1, steps=3)

    async def scenario() -> None:
        app = app_for(presets, script, "aaa-folder")
        async with app.run_test(size=(120, 40)) as pilot:
            text = await wait_for_text(pilot, "data.root: folder 'data/mine' not found here")
            assert "Data folder" in text
            setup = setup_of(app)
            assert setup.query_one("#start", Button).disabled
            assert setup.query_one("#f-data_root", Input).has_class("-invalid")
            await pilot.press("ctrl+r")
            assert isinstance(app.screen, SetupScreen) and script.calls == 0
            await pilot.press("down")  # quickstart has no data folder: the field goes away
            assert not setup.query_one("#row-data_root").display
            await pilot.press("up")
            Path("data/mine").mkdir(parents=True)  # the folder appears: Start checks again
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: script.calls == 1)

    run(scenario())


def test_the_runs_own_checks_refuse_it_back_on_the_form_with_nothing_written(
    presets: list[PresetInfo], tmp_path: Path
) -> None:
    """A folder that exists but holds no class folders: only the run's setup can tell."""
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"

    async def scenario() -> None:
        app = app_for(presets, execute, "aaa-folder", out=str(out))
        async with app.run_test(size=(120, 40)) as pilot:
            setup = setup_of(app)
            box = setup.query_one("#f-data_root", Input)
            box.value = str(empty)
            await wait_for(pilot, lambda: not app.screen.query_one("#start", Button).disabled)
            await pilot.press("ctrl+r")  # the run screen opens, the run's setup refuses
            await wait_for(
                pilot, lambda: setup.validation is not None and not setup.validation.ok, timeout=60
            )
            assert app.screen is setup
            assert setup.query_one("#start", Button).disabled
            found = [setup.validation.general or "", *setup.validation.errors.values()]
            assert any(str(empty) in message for message in found), found
            assert app.last_result is None

    run(scenario())
    assert not out.exists() or not any(out.rglob("*"))  # nothing written


def test_onecycle_conflict_is_shown_on_the_warm_up_which_fixes_it(
    presets: list[PresetInfo],
) -> None:
    async def scenario() -> None:
        app = app_for(presets, ScriptedExecutor(epochs=1, steps=3), "quickstart")
        async with app.run_test(size=(120, 40)) as pilot:
            setup = setup_of(app)
            setup.query_one("#f-scheduler", Select).value = "onecycle"
            await wait_for(pilot, lambda: "warmup" in setup.validation.errors)
            shown = str(setup.query_one("#err-warmup").render())
            assert "scheduler.warmup_epochs: onecycle warms up by itself" in shown
            assert setup.query_one("#err-warmup").display
            assert setup.query_one("#f-warmup", Input).has_class("-invalid")
            assert setup.query_one("#start", Button).disabled
            warmup = setup.query_one("#f-warmup", Input)
            warmup.focus()
            await pilot.press("end", "backspace", "0")
            await wait_for(pilot, lambda: setup.validation.ok)
            assert setup.validation.overrides == [
                "scheduler.name=onecycle",
                "scheduler.warmup_epochs=0",
            ]
            assert "scheduler.warmup_epochs=0" in screen_text(app)  # the command line shown
            assert not setup.query_one("#start", Button).disabled
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            config = run_screen(app).request.config
            assert config.scheduler.name == "onecycle" and config.scheduler.warmup_epochs == 0

    run(scenario())


def test_edits_are_kept_per_preset_marked_and_reset_with_f2(presets: list[PresetInfo]) -> None:
    async def scenario() -> None:
        app = app_for(presets, ScriptedExecutor(), "quickstart")
        async with app.run_test(size=(120, 40)) as pilot:
            setup = setup_of(app)
            epochs = setup.query_one("#f-epochs", Input)
            epochs.value = "7"
            await wait_for_text(pilot, "quickstart  local  edited", "epochs=7")
            setup.query_one("#presets").focus()
            await pilot.press("down")  # zzz-digits: its own values
            assert setup.preset.name == "zzz-digits" and epochs.value == "3"
            assert "quickstart  local  edited" in screen_text(app)
            await pilot.press("up")  # back: the edit is still there
            assert setup.preset.name == "quickstart" and epochs.value == "7"
            assert "epochs=7" in screen_text(app)
            await pilot.press("f2")
            assert epochs.value == "3"
            await wait_for(pilot, lambda: "edited" not in screen_text(app))

    run(scenario())


def test_summary_gives_resume_and_y_shows_the_commands_to_copy_by_hand(
    presets: list[PresetInfo],
) -> None:
    run_dir = Path("runs/quickstart/20250101-000000")  # under tmp_path, the working folder
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"x")  # the fake engine writes none
    script = ScriptedExecutor(epochs=3, steps=12, hold=(1, 3), run_dir=str(run_dir))

    async def scenario() -> None:
        app = app_for(presets, script, "quickstart", start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            await pilot.press("s", "s")  # stop now
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            text = await wait_for_text(pilot, "STOPPED", "resume")
            assert f"tui-trainer --resume {run_dir}" in text
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, CommandsDialog))
            box = app.screen.query_one(TextArea)
            assert box.read_only
            assert box.text.splitlines() == [
                f"tui-trainer replay {run_dir}",
                f"tui-trainer --resume {run_dir}",
            ]
            assert box.selected_text.strip() == f"tui-trainer replay {run_dir}"
            assert app.clipboard == f"tui-trainer replay {run_dir}"
            text = screen_text(app)
            assert "OSC 52" in text and "summary.json" in text
            await pilot.press("escape", "b")
            assert isinstance(app.screen, RunScreen)
            log = app.screen.query_one(RunLog).plain_text
            assert f"replay: tui-trainer replay {run_dir}" in log

    run(scenario())


def test_failed_summary_points_at_the_traceback_in_the_log(
    presets: list[PresetInfo],
) -> None:
    async def scenario() -> None:
        script = ScriptedExecutor(epochs=3, steps=12, fail_at=(1, 6))
        app = app_for(presets, script, "quickstart", start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            await wait_for_text(pilot, "The full traceback is in the log (press b)")
            await pilot.press("b")
            log = app.screen.query_one(RunLog).plain_text
            assert "Traceback (most recent call last):" in log

    run(scenario())
