"""The plots under the mouse (issue 29): the values under the pointer in the panel's subtitle,
the wheel zooms the x range around the pointer (clamped, y following the view, kept when new
data comes), `0` resets it, and an idle pointer costs no redraws."""

from __future__ import annotations

from pathlib import Path

from support.pilot import run, wait_for
from support.scripted import ScriptedExecutor
from test_compare import make_run
from test_tui_app import make_app, presets
from test_tui_plots import mid_run
from textual import events
from textual.app import App, ComposeResult
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Static
from textual_hires_canvas import Canvas

from tui_trainer.config.loader import PresetInfo
from tui_trainer.runlog import read_runs
from tui_trainer.runlog.events import EpochEnd, StepProgress
from tui_trainer.tui.compare_app import CompareApp
from tui_trainer.tui.curves import Curves
from tui_trainer.tui.screens.compare import CompareScreen, OverlayPlot
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.run_detail import RunDetailScreen
from tui_trainer.tui.widgets.plot_panels import LossPanel, MetricPanel, PlotPanel
from tui_trainer.tui.widgets.plot_readout import RESET_KEY
from tui_trainer.tui.widgets.plots import LossPlot, MetricPlot, RunPlot

__all__ = ["presets"]  # the fixture


def curves_of(epochs: int) -> Curves:
    """10 steps an epoch, train loss 1/(epoch + step/10); val loss 1.5/epoch; accuracy
    0.4 + 0.1 * epoch (epoch 3: 70%)."""
    curves = Curves()
    for e in range(1, epochs + 1):
        for s in range(10):
            loss = 1.0 / (e + s / 10)
            curves.apply(StepProgress(e, epochs, s + 1, 10, 10 * (e - 1) + s + 1, loss, 1e-3, 1, 1))
        metrics = {"train_loss": 1 / e, "val_loss": 1.5 / e, "val_accuracy": 0.4 + 0.1 * e}
        curves.apply(EpochEnd(e, epochs, metrics, 1.0, True, "val_loss", 1.5 / e, e))
    return curves


class Panels(App[None]):
    CSS = "PlotPanel { border: round white; height: 1fr; padding: 0; }"

    def compose(self) -> ComposeResult:
        yield LossPanel()
        yield MetricPanel()
        yield Static("elsewhere", id="elsewhere")


def subtitle(panel: PlotPanel) -> str:
    return Content.from_markup(str(panel.border_subtitle or "")).plain


async def point_at(pilot: Pilot, plot: RunPlot, x: float, y: float) -> tuple[int, int]:
    """Move the pointer over the data point (x, y); returns its cell on the plot canvas."""
    canvas = plot.query_one("#plot", Canvas)
    cell = plot.get_pixel_from_coordinate(x, y)
    await pilot.hover(canvas, offset=cell)
    return cell


async def wheel(pilot: Pilot, plot: RunPlot, cell: tuple[int, int], up: bool, times: int = 1):
    """Turn the wheel over a cell of the plot canvas (Pilot has no scroll helper)."""
    canvas = plot.query_one("#plot", Canvas)
    kind = events.MouseScrollUp if up else events.MouseScrollDown
    x, y = cell
    sx, sy = canvas.region.x + x, canvas.region.y + y
    for _ in range(times):
        canvas.post_message(kind(canvas, x, y, 0, 0, 0, False, False, False, sx, sy))
    await pilot.pause()


def x_under(plot: RunPlot, cell: tuple[int, int]) -> float:
    return plot.get_coordinate_from_pixel(*cell)[0]


def test_hover_shows_x_and_each_series_y_and_leaving_clears() -> None:
    async def scenario() -> None:
        app = Panels()
        async with app.run_test(size=(80, 30)) as pilot:
            curves = curves_of(5)
            loss_panel, metric_panel = app.query_one(LossPanel), app.query_one(MetricPanel)
            loss_panel.show(curves)
            metric_panel.show(curves)
            await pilot.pause()
            values = subtitle(loss_panel)
            assert values.startswith("train ")

            await point_at(pilot, app.query_one(MetricPlot), 3.0, 0.7)
            assert subtitle(metric_panel) == "epoch 3 val acc 70%"

            await point_at(pilot, app.query_one(LossPlot), 2.0, 0.5)
            # epoch 2's last step: 1 / 2.9; val loss at epoch 2: 0.75
            assert subtitle(loss_panel) == "epoch 2 raw 0.345 smoothed 0.345 val 0.75"
            assert subtitle(metric_panel) != "epoch 3 val acc 70%"  # it left that plot

            await pilot.hover("#elsewhere")
            assert subtitle(loss_panel) == values

    run(scenario())


def test_wheel_zooms_x_around_the_pointer_clamped_and_y_follows() -> None:
    async def scenario() -> None:
        app = Panels()
        async with app.run_test(size=(80, 30)) as pilot:
            panel = app.query_one(LossPanel)
            panel.show(curves_of(5))
            await pilot.pause()
            plot = app.query_one(LossPlot)
            full_y = plot._y_max
            cell = await point_at(pilot, plot, 4.0, 0.3)
            under = x_under(plot, cell)

            await wheel(pilot, plot, cell, up=True, times=3)
            x0, x1 = plot._x_min, plot._x_max
            assert 0.0 < x0 < under < x1 < 5.0
            assert abs((x1 - x0) - 5.0 * 0.8**3) < 1e-9  # three steps of 0.8
            assert abs(x_under(plot, cell) - under) < (x1 - x0) / 20  # the pointer's x stays
            # the view starts near epoch 2: its highest value is val loss 0.75 there, not 1.5
            assert 1.9 < x0 < 2.0 and 0.75 < plot._y_max < 0.85 < full_y
            assert min(plot._x_ticks) >= x0 and max(plot._x_ticks) <= x1
            assert "zoomed: 0 resets" in subtitle(panel)

            await wheel(pilot, plot, cell, up=False, times=2)
            assert plot._x_max - plot._x_min > x1 - x0  # wider
            await wheel(pilot, plot, cell, up=False, times=5)  # past the whole range: clamped
            assert (plot._x_min, plot._x_max) == (0.0, 5.0) and plot.view is None
            assert "zoomed" not in subtitle(panel)

            edge = plot.get_pixel_from_coordinate(0.0, 0.5)
            await wheel(pilot, plot, edge, up=True, times=40)  # far in at the left edge
            assert 0.0 <= plot._x_min < 0.1
            assert plot._x_max - plot._x_min > 5.0 * 1e-3 * 0.999  # never narrower than 1/1000
            assert len(plot._x_ticks) >= 2  # ticks between epochs when zoomed into one

    run(scenario())


def test_new_data_keeps_the_zoom_and_the_key_resets_it(tmp_path: Path) -> None:
    """On the runs browser's detail screen: zoom, new curves come (the run went on), `0`."""
    run_dir = make_run(tmp_path, "run-a", epochs=3)

    async def scenario() -> None:
        app = App[None]()
        async with app.run_test(size=(120, 40)) as pilot:
            await app.push_screen(RunDetailScreen(str(run_dir)))
            await wait_for(pilot, lambda: bool(app.screen.query_one(LossPlot).curves.metric))
            await pilot.pause()
            plot = app.screen.query_one(LossPlot)
            assert (plot._x_min, plot._x_max) == (0.0, 3.0)
            cell = await point_at(pilot, plot, 2.0, plot._y_min)
            await wheel(pilot, plot, cell, up=True, times=4)
            view = (plot._x_min, plot._x_max)
            assert view[1] - view[0] < 2.0
            await pilot.hover("#detail-title")  # the pointer leaves: the zoom stays, and says so
            assert "zoomed: 0 resets" in subtitle(app.screen.query_one(LossPanel))

            plot.show(curves_of(3))  # new data while zoomed
            await pilot.pause()
            assert (plot._x_min, plot._x_max) == view and plot.view is not None

            await pilot.press(RESET_KEY)
            assert (plot._x_min, plot._x_max) == (0.0, 3.0) and plot.view is None
            assert "zoomed" not in subtitle(app.screen.query_one(LossPanel))

    run(scenario())


def test_compare_plots_zoom_x_only_and_read_out_in_their_panel(tmp_path: Path) -> None:
    a, b = make_run(tmp_path, "run-a", epochs=3), make_run(tmp_path, "run-b", epochs=4)

    async def scenario() -> None:
        app = CompareApp(read_runs([str(a), str(b)]))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: len(app.screen.query(OverlayPlot)) == 4)
            await pilot.pause()
            plot = app.screen.query_one("#compare-val", OverlayPlot)
            panel = app.screen.query_one("#compare-val-panel")
            xs, ys = plot.traces[0].xs, plot.traces[0].ys
            cell = await point_at(pilot, plot, xs[1], ys[1])
            text = Content.from_markup(str(panel.border_subtitle)).plain
            assert text.startswith(f"epoch {int(xs[1])} ")  # the runs' values at epoch 2
            assert f"{ys[1]:.3g}"[:4] in text
            await wheel(pilot, plot, cell, up=True, times=2)
            assert plot.view is not None and plot._x_max - plot._x_min < 4.0
            await pilot.press(RESET_KEY)
            assert plot.view is None and (plot._x_min, plot._x_max) == (0.0, 4.0)
            await pilot.hover("#compare-legend")
            assert not panel.border_subtitle  # its own (empty) subtitle again

    run(scenario())


def test_an_idle_pointer_costs_no_redraw() -> None:
    """The readout changes on mouse events only: hovering still, the plots draw nothing."""

    async def scenario() -> None:
        app = Panels()
        async with app.run_test(size=(80, 30)) as pilot:
            app.query_one(LossPanel).show(curves_of(5))
            await pilot.pause()
            plot = app.query_one(LossPlot)
            cell = await point_at(pilot, plot, 2.0, 0.5)
            await wheel(pilot, plot, cell, up=True)
            await pilot.pause(0.1)
            calls = []
            original = plot._render_plot
            plot._render_plot = lambda: calls.append(1) or original()  # type: ignore[method-assign]
            await pilot.pause(0.5)
            assert calls == []

    run(scenario())


def test_the_reset_key_is_free_on_every_screen_with_plots() -> None:
    for screen in (RunScreen, RunDetailScreen, CompareScreen):
        keys = [b.key for b in screen.BINDINGS if not isinstance(b, tuple)]  # type: ignore[union-attr]
        assert keys.count(RESET_KEY) == 1, screen


def test_the_run_screen_zooms_its_live_plots_and_0_resets(presets: list[PresetInfo]) -> None:
    script = ScriptedExecutor(epochs=4, steps=12, hold=(2, 6))

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            runner = await mid_run(pilot, script, (2, 6))
            plot = runner.query_one(LossPlot)
            cell = await point_at(pilot, plot, 1.5, plot._y_min)
            assert subtitle(runner.query_one(LossPanel)).startswith("epoch 1.5")
            await wheel(pilot, plot, cell, up=True, times=3)
            assert plot.view is not None and plot._x_max - plot._x_min < 4.0
            await pilot.press(RESET_KEY)
            assert plot.view is None and (plot._x_min, plot._x_max) == (0.0, 4.0)
            assert isinstance(app.screen, RunScreen)  # nothing else took the key
            script.release()

    run(scenario())
