"""Console frictions a new user met (issue 22): quit on setup, the settings panel, the runs
filter, evaluation from the summary. Pilot scenarios on the fake engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pilot import PRESET, NoGpuPanel, run, screen_text, wait_for
from support.runsdirs import make_run
from support.scripted import ScriptedExecutor
from textual.widgets import Input, Static

from tui_trainer.config.loader import PresetInfo
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.runs import RunsScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.screens.summary import SummaryScreen


@pytest.fixture
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[PresetInfo]:
    """A good preset, then one that does not load."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    found = []
    for name, text in (("digits", PRESET), ("zz-broken", "epochs: two\n")):
        (tmp_path / "presets" / f"{name}.yaml").write_text(text)
        found.append(PresetInfo(name, Path(f"presets/{name}.yaml"), "test", False))
    return found


def app_for(presets: list[PresetInfo], *args, **kw) -> TrainerApp:
    kw.setdefault("executor", ScriptedExecutor(epochs=1, steps=3))
    return TrainerApp(*args, presets=presets, gpu_panel=NoGpuPanel, **kw)


def words(app: TrainerApp) -> str:
    """The screen's words in order, panel borders and line breaks removed (wrapped text)."""
    return " ".join(screen_text(app).replace("│", " ").split())


def settings(app: TrainerApp) -> Static:
    return app.screen.query_one("#preset-info", Static)


def test_setup_shows_its_quit_key_and_it_quits_from_a_text_field(presets) -> None:
    """q types into a field (as it must); the quit key (ctrl+q) was not in the footer."""

    async def scenario() -> None:
        app = app_for(presets)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            assert "^q Quit" in screen_text(app).splitlines()[-1]
            app.screen.query_one("#f-epochs", Input).focus()
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: app.return_code is not None)
        assert app.return_code == 0

    run(scenario())


def test_settings_panel_shows_what_start_runs_and_the_preset_it_belongs_to(presets) -> None:
    async def scenario() -> None:
        app = app_for(presets, "digits", ["epochs=7", "optim.lr=0.2"])
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            text = str(settings(app).render())
            assert "epochs    7 ·" in text and "lr 0.2" in text  # command-line overrides
            epochs = app.screen.query_one("#f-epochs", Input)
            epochs.focus()
            epochs.value = "9"  # an edited toggle
            await wait_for(pilot, lambda: "epochs    9 ·" in str(settings(app).render()))
            assert settings(app).border_title == "digits"
            app.screen.query_one("#presets").focus()
            await pilot.press("down")  # a preset that does not load: its own name on top
            await wait_for(pilot, lambda: app.screen.preset.name == "zz-broken")
            assert settings(app).border_title == "zz-broken"
            assert "epochs" in str(settings(app).render())  # its error, not digits' settings

    run(scenario())


def test_s_in_the_runs_browser_sorts_after_a_tab_never_types_into_the_filter(
    presets, tmp_path: Path
) -> None:
    make_run(tmp_path / "runs", "quickstart", "20261201-080000")
    make_run(tmp_path / "runs", "quickstart", "20261201-090000", epochs=4)

    async def scenario() -> None:
        app = app_for(presets)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            await pilot.press("f3")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            screen = app.screen
            await wait_for(pilot, lambda: len(screen.shown) == 2)
            await pilot.press("tab", "s")
            box = screen.query_one("#runs-filter", Input)
            assert box.value == "" and screen.sort != "date" and len(screen.shown) == 2
            await pilot.press("slash", "0", "9")  # / still opens the filter
            await wait_for(pilot, lambda: len(screen.shown) == 1)
            assert box.value == "09"
            await pilot.press("enter", "tab", "s")  # back on the list: s sorts again
            assert box.value == "09" and screen.sort == "date"

    run(scenario())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_eval_of_a_missing_checkpoint_speaks_console_keys_on_screen(presets, size) -> None:
    """The result showed below the fold; a missing best.pt was told as `--checkpoint` flags."""
    script = ScriptedExecutor(epochs=1, steps=3)
    checkpoints = Path(script.run_dir) / "checkpoints"

    async def scenario() -> None:
        app = app_for(presets, executor=script)
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            await pilot.press("e")
            await wait_for(pilot, lambda: "saved no checkpoint to evaluate" in words(app))
            assert "--checkpoint" not in words(app)
            checkpoints.mkdir(parents=True)
            (checkpoints / "last.pt").write_bytes(b"")
            await pilot.press("e")
            await wait_for(pilot, lambda: "press E to evaluate last.pt" in words(app))
            assert "no best.pt in" in words(app)

    run(scenario())


def test_help_descriptions_wrap_in_their_column_not_under_the_keys() -> None:
    """At 60 columns a long description went on at the dialog's left edge."""
    from textual.app import App

    from tui_trainer.tui import app as app_module
    from tui_trainer.tui.screens.dialogs import HELP_KEYS, HelpScreen

    class OnlyHelp(App[None]):
        CSS_PATH = str(Path(app_module.__file__).parent / "app.tcss")

        def on_mount(self) -> None:
            self.push_screen(HelpScreen())

    groups = {where for where, _, _ in HELP_KEYS}

    async def scenario() -> None:
        app = OnlyHelp()
        async with app.run_test(size=(60, 30)) as pilot:
            await pilot.pause()
            dialog = app.screen.query_one("#help-dialog")
            for _ in range(12):  # every page of it
                rows = screen_text(app).splitlines()[dialog.region.y + 1 : dialog.region.bottom - 1]
                inner = [row.split("│")[1] if row.count("│") >= 2 else "" for row in rows]
                for line in inner:
                    text = line[1:]  # after the dialog's padding
                    if text.strip() and text.split()[0] not in groups:
                        assert text.startswith("  "), line
                dialog.scroll_page_down(animate=False)
                await pilot.pause()

    run(scenario())


def test_image_size_is_a_toggle_where_the_preset_sets_one(tmp_path: Path, monkeypatch) -> None:
    """The console had no image-size field: a preset at 224 px could not be tried at 96."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    sized = PRESET.replace("  batch_size: 32\n", "  batch_size: 32\n  image_size: 16\n")
    found = []
    for name, text in (("digits", PRESET), ("digits-16px", sized)):
        (tmp_path / "presets" / f"{name}.yaml").write_text(text)
        found.append(PresetInfo(name, Path(f"presets/{name}.yaml"), "test", False))

    async def scenario() -> None:
        app = app_for(found, "digits-16px")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            setup = app.screen
            assert setup.query_one("#row-image_size").display
            field = setup.query_one("#f-image_size", Input)
            assert field.value == "16"
            field.focus()
            field.value = "24"
            await wait_for(pilot, lambda: "data.image_size=24" in setup.validation.overrides)
            assert setup.validation.config.data.image_size == 24
            field.value = "2"  # the schema's own message, under the field
            await wait_for(pilot, lambda: "image_size" in setup.validation.errors)
            setup.query_one("#presets").focus()
            await pilot.press("up")  # digits: no image size, no field
            await wait_for(pilot, lambda: setup.preset.name == "digits")
            assert not setup.query_one("#row-image_size").display

    run(scenario())
