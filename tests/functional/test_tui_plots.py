"""The run screen's plots: ticks at both sizes, log-y toggle, best marker, planned LR, and the
curves a watcher rebuilds from metrics.jsonl matching the live ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.pilot import run, run_screen, screen_text, wait_for
from support.scripted import ScriptedExecutor
from test_tui_app import make_app, presets
from textual.app import App
from textual.pilot import Pilot
from textual_plot.plot_widget import LinePlot, ScatterPlot

from tui_trainer.config.loader import PresetInfo
from tui_trainer.runlog import read_run
from tui_trainer.sinks.files import RunDirWriter
from tui_trainer.tui.curves import Curves
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.widgets.plots import (
    BEST_MARKER,
    CurvesPlot,
    LossPlot,
    LRPlot,
    MetricPlot,
    RunPlot,
)

SIZES = [(80, 24), (120, 40)]
__all__ = ["presets"]  # the fixture


def region_text(app: App, plot: RunPlot) -> list[str]:
    """The rows of the screen that `plot` covers."""
    lines = screen_text(app).splitlines()
    r = plot.region
    return [line[r.x : r.x + r.width] for line in lines[r.y : r.y + r.height]]


def drawn(runner: RunScreen) -> bool:
    """Every plot shows the run's latest curves."""
    return all(p.curves is runner.model.curves and p.current for p in runner.query(CurvesPlot))


async def mid_run(pilot: Pilot, script: ScriptedExecutor, at: tuple[int, int]) -> RunScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
    runner = run_screen(pilot.app)
    await wait_for(pilot, lambda: (runner.model.progress.epoch, runner.model.progress.step) == at)
    await wait_for(pilot, lambda: drawn(runner))
    await pilot.pause(0.1)
    return runner


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_x_tick_labels_never_run_together(presets: list[PresetInfo], size: tuple[int, int]) -> None:
    """60 epochs in plots 10 to 50 cells wide: as many ticks as fit, each label apart."""
    script = ScriptedExecutor(epochs=60, steps=3, progress_every=3, hold=(30, 3))

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=size) as pilot:
            runner = await mid_run(pilot, script, (30, 3))
            for plot in runner.query(RunPlot):
                labels = plot._x_formatter.get_labels_for_ticks(plot._x_ticks)
                assert len(labels) >= (3 if size[0] >= 120 else 2), (plot.id, labels)
                assert labels[0] == "0" and int(labels[-1]) >= 50, (plot.id, labels)
                assert region_text(app, plot)[-1].split() == labels, plot.id
            script.release()

    run(scenario())


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_every_plot_shows_its_tick_labels(presets: list[PresetInfo], size: tuple[int, int]) -> None:
    script = ScriptedExecutor(epochs=4, steps=12, hold=(3, 6))

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=size) as pilot:
            runner = await mid_run(pilot, script, (3, 6))
            for plot in runner.query(RunPlot):
                rows = region_text(app, plot)
                assert plot._x_ticks and plot._y_ticks, plot.id
                x_labels = plot._x_formatter.get_labels_for_ticks(plot._x_ticks)
                y_labels = plot._y_formatter.get_labels_for_ticks(plot._y_ticks)
                assert x_labels[:2] == ["0", "1"] or x_labels[:2] == ["0", "2"], x_labels
                assert all(label in rows[-1] for label in x_labels), (plot.id, rows[-1])
                margin = "\n".join(row[: plot.margin_left] for row in rows)
                assert all(label in margin for label in y_labels), (plot.id, margin)
                assert len(y_labels) >= 2
            script.release()

    run(scenario())


def test_g_toggles_log_y_for_the_loss(presets: list[PresetInfo]) -> None:
    script = ScriptedExecutor(epochs=6, steps=12, hold=(6, 12))

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            runner = await mid_run(pilot, script, (6, 12))
            plot = runner.query_one(LossPlot)
            linear = plot._y_formatter.get_labels_for_ticks(plot._y_ticks)
            await pilot.press("g")
            await wait_for(pilot, lambda: plot._y_formatter.log)
            await pilot.pause(0.1)
            log_labels = plot._y_formatter.get_labels_for_ticks(plot._y_ticks)
            assert log_labels == ["0.2", "0.5", "1", "2"]  # 1-2-5 steps: 2.3 down to ~0.13
            assert "log-y" in str(runner.query_one("#loss-panel").border_subtitle)
            margin = "\n".join(row[: plot.margin_left] for row in region_text(app, plot))
            assert "0.5" in margin and "0.2" in margin
            await pilot.press("g")
            await wait_for(pilot, lambda: not plot._y_formatter.log)
            assert plot._y_formatter.get_labels_for_ticks(plot._y_ticks) == linear
            script.release()

    run(scenario())


def test_best_epoch_is_marked_and_planned_lr_is_drawn_ahead(presets: list[PresetInfo]) -> None:
    script = ScriptedExecutor(epochs=4, steps=12, hold=(3, 6))  # accuracy peaks at the last

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            runner = await mid_run(pilot, script, (3, 6))
            curves = runner.model.curves
            assert curves.best_epoch == 2
            for kind in (LossPlot, MetricPlot):
                plot = runner.query_one(kind)
                marks = [d for d in plot._datasets if isinstance(d, ScatterPlot)]
                assert [float(m.x[0]) for m in marks if m.marker == BEST_MARKER] == [2.0]
                assert any(BEST_MARKER in row for row in region_text(app, plot))
            subtitle = str(runner.query_one("#metric-panel").border_subtitle)
            assert "@ 2" in subtitle

            lr = runner.query_one(LRPlot)
            planned, applied = (d for d in lr._datasets if isinstance(d, LinePlot))
            assert planned.line_style == lr.style_of("run-plot--planned")
            assert planned.x[0] == pytest.approx(curves.progress) and planned.x[-1] == 4.0
            assert applied.x[-1] == pytest.approx(2.5)
            assert planned.y[-1] == pytest.approx(0.0, abs=1e-9)  # the cosine ends at 0
            rows = region_text(app, lr)[1:-2]  # inside the frame
            right = [row[-4:-2] for row in rows]  # the last data columns: only the plan is there
            assert any(ch.strip() and ch not in "┃┫┣" for col in right for ch in col)
            script.release()

    run(scenario())


def test_curves_from_metrics_jsonl_match_the_live_ones(tmp_path: Path) -> None:
    """A watcher or `compare` rebuilds the same curves from the run directory."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("epochs: 3\n")
    writer = RunDirWriter(run_dir, "scripted")
    live = Curves()
    script = ScriptedExecutor(epochs=3, steps=12)
    from tui_trainer.runlog.control import Control

    script({}, "scripted", sinks=[writer, live.apply], control=Control())
    record = read_run(run_dir)
    rebuilt = Curves.from_records(record.records, record.planned_epochs, "val_accuracy")
    assert rebuilt.train.xs == pytest.approx(live.train.xs)
    assert rebuilt.train.ys == pytest.approx(live.train.ys)
    assert rebuilt.lr.ys == pytest.approx(live.lr.ys)
    assert rebuilt.val_loss == live.val_loss and rebuilt.metric == live.metric
    assert rebuilt.plan == pytest.approx(live.plan) and len(live.plan) == 101
    assert rebuilt.best_epoch == live.best_epoch == 2
    assert rebuilt.metric_name == live.metric_name == "val_accuracy"


def test_epochs_without_progress_events_still_draw_train_loss_and_lr() -> None:
    """Epochs shorter than the progress interval send no StepProgress: their means are used."""
    from tui_trainer.runlog.events import EpochEnd

    curves = Curves()
    for epoch in (1, 2, 3):
        metrics = {"train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch, "lr": 0.1 / epoch}
        curves.apply(EpochEnd(epoch, 3, metrics, 0.1, epoch == 3, "val_loss", 0.3, 3))
    assert curves.train.xs == [1.0, 2.0, 3.0] and curves.train.ys == pytest.approx([1, 0.5, 1 / 3])
    assert curves.lr.ys == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert curves.best_epoch == 3 and curves.metric_name is None


def test_chart_redraws_keep_to_their_cpu_budget(
    presets: list[PresetInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redraw that costs more than the budget allows pushes the next one back (measured, not
    guessed); the table still shows each epoch at once, and the run's end is drawn at once."""
    import tui_trainer.tui.screens.run as run_module

    monkeypatch.setattr(run_module, "CHART_BUDGET", 1e-9)  # any redraw is over budget
    monkeypatch.setattr(run_module, "CHART_CEILING", 1e9)  # ... and held back for good
    script = ScriptedExecutor(epochs=4, steps=12, hold=(3, 6))

    async def scenario() -> None:
        app = make_app(presets, script, start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
            runner = run_screen(pilot.app)
            await wait_for(pilot, lambda: runner._charts.gap > 1000)
            first = [p._drawn for p in runner.query(RunPlot)]
            await wait_for(pilot, lambda: runner.model.progress.epoch == 3)
            await wait_for(pilot, lambda: len(runner.model.rows) == 2)
            await pilot.pause(0.3)
            assert [p._drawn for p in runner.query(RunPlot)] == first  # not redrawn meanwhile
            table = region_text(app, runner.query_one("#epochs"))
            assert any(line.split()[:1] == ["2"] for line in table), table  # epoch 2's row
            script.release()
            await wait_for(pilot, lambda: runner.model.finished is not None)
            await wait_for(pilot, lambda: drawn(runner))  # the final state, drawn at once

    run(scenario())


def test_the_y_margin_grows_at_once_and_shrinks_only_with_room_to_spare() -> None:
    """Each margin change re-lays the screen out: labels one column narrower keep the margin,
    two narrower or a new size fit it again."""

    class OnePlot(App[None]):
        def compose(self):  # type: ignore[no-untyped-def]
            yield RunPlot(id="plot")

    async def scenario() -> None:
        app = OnePlot()
        async with app.run_test(size=(60, 20)) as pilot:
            plot = app.query_one(RunPlot)
            await pilot.pause()

            def margin_for(top: float) -> int:
                plot.axes((0.0, 1.0), (0.0, top), pad=0.0)
                return plot.margin_left

            wide = margin_for(1000.0)  # labels like "1000"
            narrow = margin_for(10.0)  # "10": two columns narrower, it shrinks
            assert narrow == wide - 2
            middle = margin_for(100.0)  # "100": wider, it grows at once
            assert middle == narrow + 1
            assert margin_for(10.0) == middle  # one column to spare: kept
            await pilot.resize_terminal(70, 20)
            await pilot.pause()
            assert margin_for(10.0) == narrow  # a new size: fitted exactly

    run(scenario())


def test_metric_and_lr_plots_skip_redraws_that_would_change_nothing() -> None:
    """A step inside an epoch leaves the metric plot as it is, and one that stays inside the
    same braille dot leaves the LR plot as it is: a forced redraw then paints the very same
    cells. An epoch's end, a step into the next dot column and a new LR plan redraw them."""
    from tui_trainer.runlog.events import EpochEnd, LRPlan, StepProgress

    class TwoPlots(App[None]):
        def compose(self):  # type: ignore[no-untyped-def]
            yield MetricPlot(id="metric")
            yield LRPlot(id="lr")

    def step(epoch: int, step: int, lr: float = 0.1) -> StepProgress:
        return StepProgress(epoch, 4, step, 1000, step, 1.0 / (step + epoch), lr, None, 0.0)

    def end(epoch: int, acc: float) -> EpochEnd:
        metrics = {"val_loss": 1.0 / epoch, "val_accuracy": acc}
        return EpochEnd(epoch, 4, metrics, 1.0, True, "val_accuracy", acc, epoch)

    async def scenario() -> None:
        app = TwoPlots()
        async with app.run_test(size=(60, 24)) as pilot:
            metric, lr = app.query_one(MetricPlot), app.query_one(LRPlot)
            curves = Curves()
            draws = {"metric": 0, "lr": 0}
            for plot in (metric, lr):
                original = plot.draw

                def counted(c: Curves, plot: CurvesPlot = plot, original=original) -> None:  # type: ignore[no-untyped-def]
                    draws[plot.id or ""] += 1
                    original(c)

                plot.draw = counted  # type: ignore[method-assign]

            async def show(*events: object) -> dict[str, int]:
                before = dict(draws)
                for event in events:
                    curves.apply(event)  # type: ignore[arg-type]
                metric.show(curves)
                lr.show(curves)
                await pilot.pause()
                await pilot.pause()
                return {k: draws[k] - before[k] for k in draws}

            async def forced_redraw_changes_nothing(plot: CurvesPlot) -> None:
                seen = region_text(app, plot)
                plot._drawn = ()
                plot.redraw()
                await pilot.pause()
                await pilot.pause()
                assert region_text(app, plot) == seen

            curves.apply(LRPlan([(0.0, 0.1), (4.0, 0.1)], "start"))
            assert await show(step(1, 100), end(1, 0.5), step(2, 100)) == {"metric": 1, "lr": 1}
            assert await show(step(2, 101)) == {"metric": 0, "lr": 0}  # the same dot column
            assert metric.current and lr.current
            await forced_redraw_changes_nothing(metric)
            await forced_redraw_changes_nothing(lr)
            assert await show(step(2, 900)) == {"metric": 0, "lr": 1}  # further right
            assert await show(step(2, 901, lr=0.01)) == {"metric": 0, "lr": 1}  # a new level
            assert await show(step(2, 1000, lr=0.01)) == {"metric": 0, "lr": 1}  # at the end
            assert await show(end(2, 0.7)) == {"metric": 1, "lr": 0}
            assert await show(LRPlan([(0.0, 0.1), (4.0, 0.0)], "steer")) == {"metric": 0, "lr": 1}

    run(scenario())


def panels_text(css: str, size: tuple[int, int], *kinds: type, lr: float, acc: float) -> str:
    """The screen of an app showing one epoch's curves (loss 1.4279, val 1.4102, then `lr` and
    val accuracy `acc`) in a row of `kinds` of plot panel, sized by `css`."""
    from textual.containers import Horizontal

    from tui_trainer.runlog.events import EpochEnd, StepProgress

    class Panels(App[None]):
        CSS = css

        def compose(self):  # type: ignore[no-untyped-def]
            with Horizontal():
                for kind in kinds:
                    yield kind()

    curves = Curves()
    curves.apply(StepProgress(1, 5, 10, 10, 10, 1.4279, lr, None, 0.0))
    metrics = {"val_loss": 1.4102, "val_accuracy": acc}
    curves.apply(EpochEnd(1, 5, metrics, 1.0, True, "val_accuracy", acc, 1))

    async def scenario() -> str:
        app = Panels()
        async with app.run_test(size=size) as pilot:
            for kind in kinds:
                app.query_one(kind).show(curves)
            await pilot.pause()
            await pilot.pause()
            return screen_text(app)

    return asyncio.run(scenario())


@pytest.mark.parametrize(("width", "title"), [(26, "Loss raw val ◆best"), (40, "smoothed")])
def test_a_narrow_loss_panel_shortens_its_title_and_values_instead_of_cutting_them(
    width: int, title: str
) -> None:
    """The runs browser's detail at 80x24 gives the loss panel 26 columns."""
    from tui_trainer.tui.widgets.plot_panels import LossPanel

    css = f"LossPanel {{ width: {width}; height: 12; border: round $panel; }}"
    text = panels_text(css, (80, 20), LossPanel, lr=0.01, acc=0.69)
    assert title in text and "…" not in text, text
    assert "1.4279" in text and "val 1.4102" in text


def test_narrow_metric_and_lr_panels_shorten_their_labels_instead_of_cutting_them() -> None:
    """The 60x20 layout gives them 15 and 18 columns: `◆ 82.12%` (no epoch), `LR now plan`."""
    from tui_trainer.tui.widgets.plot_panels import LRPanel, MetricPanel

    css = """
    MetricPanel, LRPanel { height: 10; border: round $panel; }
    MetricPanel { width: 15; }
    LRPanel { width: 18; }
    """
    text = panels_text(css, (60, 12), MetricPanel, LRPanel, lr=0.025, acc=0.8212)
    assert "◆ 82.12%" in text and "LR now plan" in text and "…" not in text, text
