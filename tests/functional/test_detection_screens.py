"""A detection run in the console, on the fake engine: the run screen plots mAP with mAP50 and
the detector's loss parts, the epoch table fits, the summary shows the per-class AP table and the
box picture; a watcher or the runs browser rebuilds the same curves from metrics.jsonl."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pilot import NoGpuPanel, detection_presets, run, run_screen, screen_text, wait_for
from support.runsdirs import make_run
from support.scripted import ScriptedExecutor
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import DataTable

from tui_trainer.runlog.control import Control
from tui_trainer.runlog.reader import read_run
from tui_trainer.sinks.files import RunDirWriter
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.curves import Curves
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.run_detail import RunDetailScreen
from tui_trainer.tui.screens.runs import RunsScreen
from tui_trainer.tui.screens.summary import SummaryScreen
from tui_trainer.tui.widgets.plot_panels import LossPanel, MetricPanel
from tui_trainer.tui.widgets.plots import CurvesPlot, MetricPlot, RunPlot

DETECTION = {
    "task": "detection",
    "data": {"name": "detshapes", "batch_size": 8, "image_size": 96},
    "model": {"name": "fcos_tiny"},
}


def plain(title: object) -> str:
    """A border title's text without its colour markup."""
    return Content.from_markup(str(title)).plain


@pytest.fixture
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    return detection_presets(tmp_path)


def _app(presets, script: ScriptedExecutor, start: bool = True) -> TrainerApp:
    return TrainerApp(
        "shapes-detect", start=start, executor=script, presets=presets, gpu_panel=NoGpuPanel
    )


async def _held(pilot: Pilot) -> RunScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
    runner = run_screen(pilot.app)
    await wait_for(
        pilot, lambda: (runner.model.progress.epoch, runner.model.progress.step) == (2, 6)
    )
    await wait_for(pilot, lambda: all(p.current for p in runner.query(CurvesPlot)))
    return runner


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_the_run_screen_plots_map_with_map50_and_the_loss_parts(presets, size) -> None:
    script = ScriptedExecutor(epochs=3, steps=12, hold=(2, 6))

    async def scenario() -> None:
        async with _app(presets, script).run_test(size=size) as pilot:
            runner = await _held(pilot)
            curves = runner.model.curves
            assert curves.metric_names == ["val_map", "val_map50"]
            assert set(curves.parts) == {"bbox_ctrness", "bbox_regression", "classification"}
            metric = runner.query_one(MetricPanel)
            assert plain(metric.border_title) in ("val mAP mAP50", "mAP mAP50")
            loss = runner.query_one(LossPanel)
            title = plain(loss.border_title)
            assert (
                title.endswith("ctr box cls")
                and "box" in title
                and "ctr" in title
                and "…" not in title
            )
            text = screen_text(pilot.app)
            assert "val mAP" in text and "val mAP50" in text  # the epoch table's columns
            header = next(line for line in text.splitlines() if " ep " in line)
            assert "lr" in header and "time" in header  # extra metrics gave way, not these
            script.release()
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen), 20)

    run(scenario())


def test_the_metric_plot_draws_the_second_metric_in_its_own_colour(presets) -> None:
    script = ScriptedExecutor(epochs=3, steps=12, hold=(3, 3))

    async def scenario() -> None:
        async with _app(presets, script).run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
            runner = run_screen(pilot.app)
            await wait_for(pilot, lambda: runner.model.progress.epoch == 3)
            plot = runner.query_one(MetricPlot)
            await wait_for(pilot, lambda: plot.current)
            drawn: list[tuple[str, str]] = []
            original = plot.line

            def spy(xs, ys, component, *name):  # type: ignore[no-untyped-def]
                drawn.append((component, ",".join(f"{y:.4f}" for y in ys)))
                original(xs, ys, component, *name)

            plot.line = spy  # type: ignore[method-assign]
            plot.refit()
            second = ",".join(f"{y:.4f}" for _, y in runner.model.curves.second)
            main = ",".join(f"{y:.4f}" for _, y in runner.model.curves.metric)
            assert drawn == [("run-plot--other", second), ("run-plot--second", main)]
            assert plot.style_of("run-plot--other") != plot.style_of("run-plot--second")
            script.release()

    run(scenario())


def test_the_summary_has_the_per_class_ap_table_and_the_box_picture(presets) -> None:
    script = ScriptedExecutor(epochs=3, steps=12)

    async def scenario() -> None:
        async with _app(presets, script).run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen), 20)
            await pilot.pause()
            text = screen_text(pilot.app)
            assert "best      val mAP 0.6026 at epoch 2" in text
            assert "train loss 0.2989 (ctr 0.0299, box 0.0897, cls 0.1793)" in text
            assert "class            boxes      AP    AP50       P       R" in text
            assert "┏e━━" in text and "┌t──" in text and "┏┓ predicted" in text

    run(scenario())


def test_watch_and_the_runs_browser_rebuild_the_detection_curves(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("epochs: 3\ntask: detection\n")
    live = Curves()
    script = ScriptedExecutor(epochs=3, steps=12, task="detection")
    script(None, "det", sinks=[RunDirWriter(run_dir, "det"), live.apply], control=Control())
    record = read_run(run_dir)
    rebuilt = Curves.from_records(record.records, record.planned_epochs, record.monitored[0])
    assert rebuilt.task == "detection"
    assert rebuilt.metric_names == live.metric_names == ["val_map", "val_map50"]
    assert rebuilt.metrics == live.metrics
    assert list(rebuilt.parts) == list(live.parts)
    for name, series in live.parts.items():
        assert rebuilt.parts[name].ys == pytest.approx(series.ys)


def test_the_runs_browser_detail_of_a_detection_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_run(Path("runs"), "shapes-detect", "20261130-100000", **DETECTION)
    app = TrainerApp(
        executor=ScriptedExecutor(), presets=detection_presets(tmp_path), gpu_panel=NoGpuPanel
    )

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
            screen = pilot.app.screen
            await wait_for(pilot, lambda: screen.listing is not None)
            screen.query_one("#runs-table", DataTable).move_cursor(row=0)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen))
            detail = pilot.app.screen
            await wait_for(pilot, lambda: all(p._drawn for p in detail.query(RunPlot)))
            assert plain(detail.query_one(MetricPanel).border_title) == "val mAP mAP50"
            assert plain(detail.query_one(LossPanel).border_title).endswith("ctr box cls")

    run(scenario())


def test_tensorboard_holds_the_loss_parts_per_step_and_epoch(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tui_trainer.sinks.tensorboard import TensorBoardSink

    script = ScriptedExecutor(epochs=2, steps=6, task="detection")
    script(None, "det", sinks=[TensorBoardSink(tmp_path)], control=Control())
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for part in ("classification", "bbox_regression", "bbox_ctrness"):
        assert f"train/loss_{part}" in tags and f"epoch/train_loss_{part}" in tags
    assert {"epoch/val_map", "epoch/val_map50"} <= tags
    steps = [e.step for e in acc.Scalars("train/loss_classification")]
    assert steps == [e.step for e in acc.Scalars("train/loss")]


@pytest.mark.parametrize("task", ["classification", "detection"])
def test_the_best_marker_shows_when_the_last_epoch_is_the_best(presets, task) -> None:
    """textual-plot maps x = xmax one cell past its canvas: the marker is moved inside."""
    script = ScriptedExecutor(epochs=1, steps=12, task=task)

    async def scenario() -> None:
        async with _app(presets, script).run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen), 20)
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
            plot = pilot.app.screen.query_one(MetricPlot)
            await wait_for(pilot, lambda: plot.current)
            await pilot.pause()
            region = plot.region
            rows = screen_text(pilot.app).splitlines()[region.y : region.bottom]
            assert any("◆" in row[region.x : region.right] for row in rows)

    run(scenario())
