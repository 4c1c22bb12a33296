"""The plots' y axes (issue 22): no loss below 0, accuracies in %, one tick format per axis."""

from __future__ import annotations

from support.pilot import run
from textual.app import App

from tui_trainer.runlog.events import EpochEnd, LRPlan, StepProgress
from tui_trainer.tui.curves import Curves
from tui_trainer.tui.widgets.plots import LossPlot, LRPlot, MetricPlot, y_scale
from tui_trainer.tui.widgets.ticks import TickLabels, axis_labels


def curves_of(losses: list[float], accuracy: list[float]) -> Curves:
    curves = Curves()
    for epoch, (loss, acc) in enumerate(zip(losses, accuracy, strict=True), start=1):
        curves.apply(StepProgress(epoch, 3, 10, 10, 10 * epoch, loss, 1e-3, 640.0, 1.0))
        metrics = {"train_loss": loss, "val_loss": loss, "val_accuracy": acc, "lr": 1e-3}
        curves.apply(EpochEnd(epoch, 3, metrics, 1.0, True, "val_loss", loss, epoch))
    return curves


class Plots(App[None]):
    def compose(self):  # type: ignore[no-untyped-def]
        yield LossPlot(id="loss")
        yield MetricPlot(id="metric")
        yield LRPlot(id="lr")


def y_labels(plot) -> list[str]:  # type: ignore[no-untyped-def]
    return plot._y_formatter.get_labels_for_ticks(plot._y_ticks)


def test_loss_axis_starts_at_0_and_accuracy_ticks_are_percentages() -> None:
    """Losses near 0 padded the axis to below 0 (`-0.1`); accuracy ticks read `0.9`."""
    curves = curves_of([0.4, 0.05, 0.001], [0.90, 0.95, 0.99])

    async def scenario() -> None:
        app = Plots()
        async with app.run_test(size=(60, 45)) as pilot:
            await pilot.pause()
            loss, metric = app.query_one(LossPlot), app.query_one(MetricPlot)
            loss.show(curves)
            metric.show(curves)
            await pilot.pause()
            assert loss._y_min == 0.0 and min(loss._y_ticks) >= 0
            assert not any(label.startswith("-") for label in y_labels(loss))
            labels = y_labels(metric)
            assert labels and all(label.endswith("%") for label in labels), labels
            loss.show(curves, log_y=True)  # a log axis keeps its negative exponents
            await pilot.pause()
            assert loss._y_min < 0

    run(scenario())


def test_lr_ticks_have_one_format_per_axis() -> None:
    """`0 2e-4 4e-4 6e-4 8e-4 0.001` mixed scientific and plain labels on one axis."""
    curves = curves_of([1.0, 0.8], [0.5, 0.6])
    curves.apply(LRPlan([(0.0, 1e-3), (3.0, 1e-3)], "cosine"))

    async def scenario() -> None:
        app = Plots()
        async with app.run_test(size=(60, 45)) as pilot:
            await pilot.pause()
            lr = app.query_one(LRPlot)
            lr.show(curves)
            await pilot.pause()
            labels = [label for label in y_labels(lr) if label != "0"]
            assert len(labels) >= 2 and all("e-" in label for label in labels), labels

    run(scenario())


def test_axis_labels_share_one_format() -> None:
    assert axis_labels([0, 2e-4, 4e-4, 6e-4, 8e-4, 1e-3], 2e-4) == [
        "0", "2e-4", "4e-4", "6e-4", "8e-4", "1e-3"
    ]  # fmt: skip
    assert axis_labels([5e-4, 1e-3, 1.5e-3], 5e-4) == ["5.0e-4", "1.0e-3", "1.5e-3"]
    assert axis_labels([0, 0.5, 1.0], 0.5) == ["0", "0.5", "1.0"]  # plain as before
    assert TickLabels(percent=True).get_labels_for_ticks([0.9, 0.92, 0.94]) == [
        "90%", "92%", "94%"
    ]  # fmt: skip


def test_log_y_is_one_rule_for_run_and_compare_plots() -> None:
    """Asked for and every value positive: log10; a zero or negative value: linear (both the
    run screen's plots and compare's overlays use this one rule)."""
    assert y_scale([0.1, 10.0], True)[0] and y_scale([0.1, 10.0], True)[1]([100.0]) == [2.0]
    assert y_scale([0.0, 10.0], True)[0] is False
    assert y_scale([0.1, 10.0], False)[1]([100.0]) == [100.0]


def test_an_accuracy_axis_never_passes_100_percent() -> None:
    """A run that reaches 100% padded the axis to `101%`."""
    curves = curves_of([0.4, 0.05, 0.001], [0.30, 0.95, 1.0])

    async def scenario() -> None:
        app = Plots()
        async with app.run_test(size=(60, 45)) as pilot:
            await pilot.pause()
            metric = app.query_one(MetricPlot)
            metric.show(curves)
            await pilot.pause()
            assert metric._y_max <= 1.0
            assert all(float(label.rstrip("%")) <= 100 for label in y_labels(metric))

    run(scenario())
