"""Pictures in the console: the run screen's samples panel (i, [ ]), the gallery with its
confusion heatmap (cursor, filter) opened from the summary, its eval panel and the runs
browser, and `--images` on the command line. Fixed PNG sets written with the contract."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.pictures import (
    SamplesAfterEpochs,
    write_classification_run,
    write_mistakes,
    write_segmentation_run,
)
from support.pilot import NoGpuPanel, demo_presets, run, screen_text, wait_for, wait_for_text
from support.runsdirs import make_run
from support.scripted import ScriptedExecutor

from tui_trainer.cli import main
from tui_trainer.runlog.events import SamplesWritten
from tui_trainer.runlog.pictures import MISTAKES
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.pictures.mode import chosen, prepare
from tui_trainer.tui.screens import run_pictures
from tui_trainer.tui.screens.gallery import GalleryScreen
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.runs import RunsScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.screens.summary import SummaryScreen
from tui_trainer.tui.widgets import eval_panel, samples_panel
from tui_trainer.tui.widgets.confusion import ConfusionHeatmap
from tui_trainer.tui.widgets.picture_tile import PictureTile
from tui_trainer.tui.widgets.samples_panel import SamplesPanel

RUN_DIR = "runs/scripted/20250101-000000"  # the scripted executor's, relative to the cwd


@pytest.fixture(autouse=True)
def no_refresh_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """New sets show at once (the 10 s coalescing has its own test)."""
    monkeypatch.setattr(samples_panel, "REFRESH_EVERY", 0.0)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_app(folder: Path, script: Any, images: str = "halfblock") -> TrainerApp:
    return TrainerApp(
        "digits-demo",
        start=True,
        executor=script,
        presets=demo_presets(folder),
        gpu_panel=NoGpuPanel,
        images=images,
    )


def tiles(app: TrainerApp) -> list[PictureTile]:
    return list(app.screen.query(PictureTile))


async def finished(pilot: Any, app: TrainerApp) -> None:
    """Wait for the scripted run to end on its summary."""
    await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))


async def samples_shown(pilot: Any, app: TrainerApp) -> RunScreen:
    """After the run, back to its run screen (`b`) with the samples panel shown (`i`)."""
    await finished(pilot, app)
    await pilot.press("b", "i")
    runner = app.screen
    assert isinstance(runner, RunScreen)
    return runner


# -- the samples panel ---------------------------------------------------------------------------
def test_i_shows_the_newest_samples_in_the_plots_place_and_hides_them(here: Path) -> None:
    write_classification_run(here / RUN_DIR, epochs=3, count=6)
    script = SamplesAfterEpochs(ScriptedExecutor(epochs=3, steps=6))

    async def scenario() -> None:
        app = make_app(here, script)
        async with app.run_test(size=(120, 40)) as pilot:
            await finished(pilot, app)
            await pilot.press("b")
            runner = app.screen
            assert isinstance(runner, RunScreen)
            assert runner.model.samples == [f"samples/epoch-000{e}" for e in (1, 2, 3)]
            await pilot.press("i")
            text = await wait_for_text(pilot, "Samples · epoch 3/3", "cat → dog")
            assert len(tiles(app)) == 6
            assert not runner.query_one("#loss-panel").display  # in the plots' place
            captions = [str(t.query_one(".tile-caption").render()) for t in tiles(app)]
            assert "cat → dog 0.67" in captions[0]  # true → predicted confidence
            assert "val/cat/img_0000.png" in text
            await pilot.press("i")
            await wait_for(pilot, lambda: not runner.query(SamplesPanel))
            assert runner.query_one("#loss-panel").display
            assert not tiles(app)

    run(scenario())


def test_wrong_answers_are_red_and_right_ones_green(here: Path) -> None:
    write_classification_run(here / RUN_DIR, epochs=1, count=3)

    async def scenario() -> None:
        app = make_app(here, SamplesAfterEpochs(ScriptedExecutor(epochs=1, steps=3)))
        async with app.run_test(size=(120, 40)) as pilot:
            await samples_shown(pilot, app)
            await wait_for(pilot, lambda: len(tiles(app)) == 3)
            for t in tiles(app):
                colour = t.query_one(".tile-caption").render().spans[0].style
                expected = "$text-success" if t.picture.correct else "$text-error"
                assert str(colour) == expected
            assert {t.picture.correct for t in tiles(app)} == {True, False}

    run(scenario())


def test_a_hidden_panel_reads_and_draws_nothing(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off costs nothing: no set listed or read, no panel or tile mounted, while samples
    arrive every epoch."""
    write_classification_run(here / RUN_DIR, epochs=3, count=6)
    calls: list[str] = []
    real_list, real_read = run_pictures.latest_samples, samples_panel.read_set
    monkeypatch.setattr(
        run_pictures, "latest_samples", lambda d: calls.append("list") or real_list(d)
    )
    monkeypatch.setattr(samples_panel, "read_set", lambda f: calls.append("read") or real_read(f))
    script = SamplesAfterEpochs(ScriptedExecutor(epochs=3, steps=6))

    async def scenario() -> None:
        app = make_app(here, script)
        async with app.run_test(size=(120, 40)) as pilot:
            await finished(pilot, app)
            assert len(script.events) == 3  # SamplesWritten after each epoch
            await pilot.press("b")
            assert calls == []
            assert not app.screen.query(SamplesPanel) and not app.screen.query(PictureTile)
            assert "textual_image" not in str([type(w) for w in app.screen.walk_children()])
            await pilot.press("i")
            await wait_for(pilot, lambda: len(tiles(app)) == 6)
            assert calls == ["list", "read"]

    run(scenario())


def test_brackets_step_through_epochs_and_the_newest_is_followed_again(here: Path) -> None:
    write_classification_run(here / RUN_DIR, epochs=3, count=4)

    async def scenario() -> None:
        app = make_app(here, SamplesAfterEpochs(ScriptedExecutor(epochs=3, steps=3)))
        async with app.run_test(size=(120, 40)) as pilot:
            runner = await samples_shown(pilot, app)
            panel = runner.query_one(SamplesPanel)
            await wait_for(pilot, lambda: "epoch 3/3" in str(panel.border_title))
            await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
            await wait_for(pilot, lambda: "epoch 1/3" in str(panel.border_title))
            assert "stepped back" in str(panel.border_title)
            assert {t.folder.name for t in tiles(app)} == {"epoch-0001"}
            # a new set arrives while stepped back: the view stays on epoch 1
            write_classification_run(here / RUN_DIR, epochs=4, count=4)
            runner.bridge(SamplesWritten(4, "samples/epoch-0004"))
            await wait_for(pilot, lambda: len(panel.folders) == 4)
            assert "epoch 1/4" in str(panel.border_title)
            await pilot.press(*["right_square_bracket"] * 3)
            await wait_for(pilot, lambda: str(panel.border_title) == "Samples · epoch 4/4")
            runner.bridge(SamplesWritten(5, "samples/epoch-0005"))
            write_classification_run(here / RUN_DIR, epochs=5, count=4)
            runner.bridge(SamplesWritten(5, "samples/epoch-0005"))
            await wait_for(pilot, lambda: str(panel.border_title) == "Samples · epoch 5/5")

    run(scenario())


def test_sets_arriving_faster_than_the_refresh_coalesce_into_the_newest(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short epochs: each new set would rebuild every tile (tens of ms of the UI thread). While
    the panel follows the newest, grids are built at most every REFRESH_EVERY seconds, and the
    newest set is the one shown."""
    write_classification_run(here / RUN_DIR, epochs=3, count=4)
    monkeypatch.setattr(samples_panel, "REFRESH_EVERY", 1.5)  # 10 s in use

    async def scenario() -> None:
        app = make_app(here, SamplesAfterEpochs(ScriptedExecutor(epochs=3, steps=3)))
        async with app.run_test(size=(120, 40)) as pilot:
            runner = await samples_shown(pilot, app)
            panel = runner.query_one(SamplesPanel)
            await wait_for(pilot, lambda: str(panel.border_title) == "Samples · epoch 3/3")
            await wait_for(pilot, lambda: bool(tiles(app)))
            built = panel.builds
            write_classification_run(here / RUN_DIR, epochs=6, count=4)
            for epoch in (4, 5, 6):  # three sets within a moment
                runner.bridge(SamplesWritten(epoch, f"samples/epoch-000{epoch}"))
                await pilot.pause()
            assert panel.builds == built  # none rebuilt yet: one is due
            await wait_for(pilot, lambda: str(panel.border_title) == "Samples · epoch 6/6")
            assert panel.builds == built + 1  # the newest, once
            await wait_for(pilot, lambda: {t.folder.name for t in tiles(app)} == {"epoch-0006"})

    run(scenario())


def test_the_hidden_plots_are_not_redrawn_while_the_panel_is_shown(here: Path) -> None:
    """The panel takes the plots' place: their redraws wait until it closes."""
    from tui_trainer.tui.widgets.plot_panels import LossPanel

    write_classification_run(here / RUN_DIR, epochs=1, count=3)

    async def scenario() -> None:
        app = make_app(here, SamplesAfterEpochs(ScriptedExecutor(epochs=1, steps=3)))
        async with app.run_test(size=(120, 40)) as pilot:
            runner = await samples_shown(pilot, app)
            await wait_for(pilot, lambda: len(tiles(app)) == 3)
            shown: list[object] = []
            loss = runner.query_one(LossPanel)
            real = loss.show
            loss.show = lambda curves: shown.append(curves) or real(curves)  # type: ignore[method-assign]
            runner._charts_due(now=True)
            assert shown == []
            await pilot.press("i")
            await wait_for(pilot, lambda: shown == [runner.model.curves])

    run(scenario())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_segmentation_samples_fit_the_terminal(here: Path, size: tuple[int, int]) -> None:
    write_segmentation_run(here / RUN_DIR, epochs=2, count=8)

    async def scenario() -> None:
        app = make_app(here, SamplesAfterEpochs(ScriptedExecutor(epochs=2, steps=3)))
        async with app.run_test(size=size) as pilot:
            await samples_shown(pilot, app)
            await wait_for(pilot, lambda: len(tiles(app)) > 0)
            await pilot.pause()
            panel = app.screen.query_one(SamplesPanel)
            inner = panel.content_region
            for t in tiles(app):
                assert inner.contains_region(t.region), (t.region, inner)
            assert "Dice 0." in screen_text(app)

    run(scenario())


def test_images_none_shows_captions_and_names_only(here: Path) -> None:
    write_classification_run(here / RUN_DIR, epochs=1, count=4)

    async def scenario() -> None:
        app = make_app(here, SamplesAfterEpochs(ScriptedExecutor(epochs=1, steps=3)), "none")
        async with app.run_test(size=(80, 24)) as pilot:
            await samples_shown(pilot, app)
            await wait_for_text(pilot, "bird → cat 0.75", "…/cat/img_0000.png")
            assert not app.screen.query(".tile-image")

    run(scenario())


def test_a_run_without_pictures_says_so_in_one_line(here: Path) -> None:
    async def scenario() -> None:
        app = make_app(here, ScriptedExecutor(epochs=1, steps=3))
        async with app.run_test(size=(80, 24)) as pilot:
            await samples_shown(pilot, app)
            await wait_for_text(pilot, "no pictures yet")

    run(scenario())


# -- the gallery ---------------------------------------------------------------------------------
async def open_from_summary(pilot: Any) -> GalleryScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, GalleryScreen))
    await pilot.pause()
    return pilot.app.screen


def test_the_heatmap_cursor_filters_the_gallery_to_a_cell(here: Path) -> None:
    write_classification_run(here / RUN_DIR, epochs=1)

    async def scenario() -> None:
        app = make_app(here, ScriptedExecutor(epochs=1, steps=3))
        async with app.run_test(size=(120, 40)) as pilot:
            gallery = await open_from_summary(pilot)
            await wait_for(pilot, lambda: len(tiles(app)) == 6)
            heatmap = gallery.query_one(ConfusionHeatmap)
            assert heatmap.has_focus and heatmap.cursor == (0, 0)
            await pilot.press("down", "right", "right")
            assert heatmap.cursor == (1, 2)
            info = gallery.query_one("#cell-info")
            await wait_for(
                pilot, lambda: "true dog → predicted bird: 6 (17% of dog)" in str(info.render())
            )
            assert "2 pictures kept" in str(info.render())
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(tiles(app)) == 2)
            assert {(t.picture.true, t.picture.pred) for t in tiles(app)} == {("dog", "bird")}
            await pilot.press("up", "left", "enter")  # (0, 1): cat → dog, one kept
            await wait_for(pilot, lambda: len(tiles(app)) == 1)
            await pilot.press("down", "down", "left", "enter")  # (2, 0): bird → cat, none kept
            heading = gallery.query_one("#gallery-filter")
            await wait_for(
                pilot,
                lambda: (
                    "no pictures kept for this cell (the set keeps the 6 most confident"
                    in str(heading.render())
                ),
            )
            assert not tiles(app)
            await pilot.press("escape")  # clears the filter
            await wait_for(pilot, lambda: len(tiles(app)) == 6)
            assert isinstance(app.screen, GalleryScreen)
            await pilot.press("escape")  # closes
            await finished(pilot, app)

    run(scenario())


def test_a_click_on_a_cell_filters_too(here: Path) -> None:
    write_classification_run(here / RUN_DIR, epochs=1)

    async def scenario() -> None:
        app = make_app(here, ScriptedExecutor(epochs=1, steps=3))
        async with app.run_test(size=(120, 40)) as pilot:
            gallery = await open_from_summary(pilot)
            heatmap = gallery.query_one(ConfusionHeatmap)
            x = heatmap.label_width + 1 + 2 * heatmap.cell_width + 1  # column 2 (bird)
            await pilot.click(ConfusionHeatmap, offset=(x, 2))  # row 1 (dog)
            await wait_for(pilot, lambda: gallery.cell == (1, 2))
            await wait_for(pilot, lambda: len(tiles(app)) == 2)

    run(scenario())


def test_many_classes_scroll_with_the_cursor_and_abbreviate_names(here: Path) -> None:
    names = [f"class_number_{i:02d}" for i in range(30)]
    matrix = [[(20 if i == j else (i * j) % 3) for j in range(30)] for i in range(30)]
    from tui_trainer.tui.widgets.confusion import ConfusionHeatmap as Heatmap

    heatmap = Heatmap(matrix, names)
    assert heatmap.cell_width == 4  # counts only: names abbreviated to 3 characters
    assert "cl…" in str(heatmap.render()).splitlines()[0]
    assert (
        heatmap.describe(3, 4)
        == "true class_number_03 → predicted class_number_04: 0 (0% of class_number_03)"
    )

    folder = here / "big" / MISTAKES
    write_mistakes(folder, None)
    import json

    index = json.loads((folder / "index.json").read_text())
    index["class_names"], index["confusion"] = names, matrix
    (folder / "index.json").write_text(json.dumps(index))

    async def scenario() -> None:
        from tui_trainer.runlog.pictures import read_set

        app = make_app(here, ScriptedExecutor(epochs=1, steps=3))
        async with app.run_test(size=(80, 24)) as pilot:
            await finished(pilot, app)
            pictures = read_set(folder)
            assert pictures is not None
            await app.push_screen(GalleryScreen(folder, pictures))
            await pilot.pause()
            scroll = app.screen.query_one("#matrix-scroll")
            heatmap = app.screen.query_one(ConfusionHeatmap)
            heatmap.move_to(24, 24)
            await pilot.press("down", "right")
            await pilot.pause()
            assert heatmap.cursor == (25, 25)
            assert scroll.scroll_offset.y > 0 and scroll.scroll_offset.x > 0

    run(scenario())


def test_no_mistakes_is_a_one_line_notice_not_an_empty_screen(here: Path) -> None:
    async def scenario() -> None:
        app = make_app(here, ScriptedExecutor(epochs=1, steps=3))
        async with app.run_test(size=(80, 24)) as pilot:
            await finished(pilot, app)
            await pilot.press("m")
            await wait_for(
                pilot,
                lambda: any("No pictures of mistakes" in n.message for n in app._notifications),
            )
            assert isinstance(app.screen, SummaryScreen)

    run(scenario())


def test_the_eval_panel_opens_that_evals_mistakes(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After e, m shows the mistakes written by that evaluation, not the run's own."""
    run_dir = here / RUN_DIR
    write_classification_run(run_dir, epochs=1)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "best.pt").write_bytes(b"")
    stamp = run_dir / "eval" / "20250101-010101"

    def fake_eval(run_dir_: str, checkpoint: str) -> tuple[str, Path]:
        write_mistakes(stamp / MISTAKES, None)
        return "result", stamp

    monkeypatch.setattr(eval_panel, "evaluate_and_write", fake_eval)
    monkeypatch.setattr(eval_panel, "result_text", lambda result, folder: f"done: {folder}")

    async def scenario() -> None:
        app = make_app(here, ScriptedExecutor(epochs=1, steps=3))
        async with app.run_test(size=(120, 40)) as pilot:
            await finished(pilot, app)
            await pilot.press("e")
            await wait_for_text(pilot, "m: its worst mistakes")
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, GalleryScreen))
            assert app.screen.folder == stamp / MISTAKES
            assert "worst mistakes (eval)" in screen_text(app)

    run(scenario())


def test_the_runs_browser_opens_the_highlighted_runs_mistakes(
    here: Path, private_runtime: Path
) -> None:
    root = here / "runs"
    run_dir = make_run(root, "quickstart", "20261130-100000", epochs=2)
    write_mistakes(run_dir / "samples" / MISTAKES, 2)

    async def scenario() -> None:
        app = TrainerApp(
            executor=ScriptedExecutor(),
            presets=demo_presets(here),
            gpu_panel=NoGpuPanel,
            out=str(root),
            images="halfblock",
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            await pilot.press("f3")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            await wait_for(pilot, lambda: bool(app.screen.shown))
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, GalleryScreen))
            assert app.screen.folder == run_dir / "samples" / MISTAKES
            await wait_for_text(pilot, "cat → dog 0.98", "val/cat/img_0100.png")

    run(scenario())


# -- --images ------------------------------------------------------------------------------------
def test_images_flag_env_and_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert chosen(None, {}) == "auto"
    assert chosen(None, {"TUI_TRAINER_IMAGES": "kitty"}) == "kitty"
    assert chosen("none", {"TUI_TRAINER_IMAGES": "kitty"}) == "none"  # the flag wins
    assert main(["--images", "pixels"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "tui-trainer: error: --images: expected one of auto, halfblock, sixel, kitty, none, "
        "got 'pixels'"
    )
    assert main(["watch", "--images", "big", "nowhere"]) == 2
    assert "--images: expected one of" in capsys.readouterr().err
    assert main(["exec", "--images", "big", "--", sys.executable, "-c", "1"]) == 2
    assert "--images: expected one of" in capsys.readouterr().err


def test_bad_environment_value_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("TUI_TRAINER_IMAGES", "fancy")
    assert main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "tui-trainer: error: TUI_TRAINER_IMAGES: expected one of auto, halfblock, sixel, "
        "kitty, none, got 'fancy'"
    ]


def test_auto_is_halfblock_in_tmux_and_none_imports_nothing() -> None:
    assert prepare("none") == "none"
    assert prepare("auto", {"TMUX": "/tmp/tmux-0/default,1,0"}) == "halfblock"
    assert prepare("sixel", {}) == "sixel"


def test_auto_without_a_terminal_does_not_hang_and_draws_half_blocks() -> None:
    """Piped output (no tty): textual-image asks no terminal; auto falls back to half-blocks."""
    code = "from tui_trainer.tui.pictures.mode import prepare; print(prepare('auto', {}))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "halfblock"


def test_auto_in_a_terminal_that_reports_no_size_and_answers_nothing() -> None:
    """A pty of 0x0 cells whose other end never answers a query (an unusual terminal, a
    test harness): textual-image 0.12 divided by the zero width at import and took the console
    down; now the queries time out and auto draws half-blocks."""
    code = "from tui_trainer.tui.pictures.mode import prepare; print('mode', prepare('auto', {}))"
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin/stdout are the pty
        os.execv(sys.executable, [sys.executable, "-c", code])
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child ended: the pty closed
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")
    assert b"mode halfblock" in out
