"""`tui-trainer compare`: piped text, bad input, and the comparison view (Pilot + snapshot)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pilot import run, screen_text, wait_for
from support.scripted import ScriptedExecutor
from textual.widgets import DataTable
from textual_plot.plot_widget import LinePlot

from tui_trainer.cli import main
from tui_trainer.compare import short_labels
from tui_trainer.runlog import read_runs
from tui_trainer.runlog.control import Control
from tui_trainer.sinks.files import RunDirWriter, write_config
from tui_trainer.tui.compare_app import CompareApp
from tui_trainer.tui.screens.compare import OverlayPlot

BASE = {
    "task": "classification",
    "epochs": 3,
    "data": {"name": "digits", "batch_size": 32},
    "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "scheduler": {"name": "cosine"},
}


def make_run(root: Path, name: str, epochs: int = 3, **changes: dict) -> Path:
    """A run directory written by the real writer from a scripted run."""
    run_dir = root / "quickstart" / name
    run_dir.mkdir(parents=True)
    config = {**BASE, "epochs": epochs, **changes}
    write_config(run_dir, config, "quickstart")
    script = ScriptedExecutor(epochs=epochs, steps=12, run_dir=str(run_dir))
    script(config, "quickstart", sinks=[RunDirWriter(run_dir, "quickstart")], control=Control())
    return run_dir


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    a = make_run(tmp_path, "run-a")
    b = make_run(
        tmp_path,
        "run-b",
        epochs=4,
        optim={"name": "sgd", "lr": 0.01, "momentum": 0.9},
        scheduler={"name": "step", "step_size": 2},
    )
    return a, b


def test_piped_compare_prints_only_changed_keys_and_metrics_side_by_side(two_runs, capsys):
    a, b = two_runs
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    diff, metrics = out.split("# metrics")
    keys = [line.split()[0] for line in diff.splitlines()[2:] if line.strip()]
    assert keys == ["epochs", "optim.lr", "scheduler.name", "scheduler.step_size"]
    lines = {line.split()[0]: line.split()[1:] for line in diff.splitlines()[2:] if line.strip()}
    assert lines["optim.lr"] == ["0.05", "0.01"] and lines["epochs"] == ["3", "4"]
    assert lines["scheduler.step_size"] == ["-", "2"]  # run-a's config does not have the key
    rows = {line.split("  ")[0].strip(): line for line in metrics.strip().splitlines()[1:]}
    assert "quickstart/run-a" in metrics.splitlines()[1] and "quickstart/run-b" in metrics
    assert rows["epochs"].split()[1:] == ["3/3", "4/4"]
    assert rows["status"].split()[1:] == ["completed", "completed"]
    assert rows["best val_accuracy"].split()[2:] == ["90.26%", "@", "2", "93.26%", "@", "3"]
    assert "final val_loss" in rows and "samples/s" in rows


@pytest.mark.parametrize(
    "case", ["one run", "not a dir", "no config", "bad metrics line", "no metrics"]
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, two_runs, capsys, case: str) -> None:
    a, b = two_runs
    if case == "one run":
        args, expect = [str(a)], "at least two run directories"
    elif case == "not a dir":
        args, expect = [str(a), str(tmp_path / "nope")], "nope: not a run directory"
    elif case == "no config":
        (tmp_path / "empty").mkdir()
        args, expect = [str(a), str(tmp_path / "empty")], "(no config.yaml)"
    elif case == "no metrics":
        (b / "metrics.jsonl").unlink()
        args, expect = [str(a), str(b)], "(no metrics.jsonl)"
    else:
        with open(b / "metrics.jsonl", "a") as fh:
            fh.write("{not json\n")
        lines = len((b / "metrics.jsonl").read_text().splitlines())
        args, expect = [str(a), str(b)], f"metrics.jsonl: line {lines} is not JSON"
    assert main(["compare", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and expect in captured.err, captured.err


def test_a_line_still_being_written_is_left_for_later(two_runs) -> None:
    a, b = two_runs
    with open(b / "metrics.jsonl", "a") as fh:
        fh.write('{"event": "step", "epo')  # the writer is mid-line: not an error
    runs = read_runs([str(a), str(b)])
    assert len(runs[1].epoch_rows) == 4


async def view_text(pilot) -> str:
    """The comparison view's text once its four plots are up."""
    await wait_for(pilot, lambda: len(pilot.app.screen.query(OverlayPlot)) == 4)
    await pilot.pause(0.2)
    return screen_text(pilot.app)


def test_compare_view_overlays_runs_with_a_legend_and_diffs_only_changed_keys(two_runs) -> None:
    a, b = two_runs

    async def scenario() -> None:
        app = CompareApp(read_runs([str(a), str(b)]))
        async with app.run_test(size=(120, 40)) as pilot:
            text = await view_text(pilot)
            assert "━━ quickstart/run-a" in text and "━━ quickstart/run-b" in text
            for plot in app.screen.query(OverlayPlot):
                lines = [d for d in plot._datasets if isinstance(d, LinePlot)]
                assert len(lines) == 2, plot.kind
                assert lines[0].line_style != lines[1].line_style
            extent = app.screen.query_one("#compare-train", OverlayPlot)._x_max
            assert extent == 4.0  # the longer run sets the shared x axis
            diff = app.screen.query_one("#compare-diff", DataTable)
            keys = [str(diff.get_row_at(i)[0]) for i in range(diff.row_count)]
            assert keys == ["epochs", "optim.lr", "scheduler.name", "scheduler.step_size"]
            metrics = app.screen.query_one("#compare-metrics", DataTable)
            labels = [str(metrics.get_row_at(i)[0]) for i in range(metrics.row_count)]
            assert labels[:3] == ["status", "epochs", "best val_accuracy"]
            await pilot.press("g")
            assert app.screen.query_one("#compare-train", OverlayPlot)._y_formatter.log
            await pilot.press("q")
        assert app.return_code == 0

    run(scenario())


def test_compare_view_snapshot(snap_compare, two_runs, monkeypatch) -> None:
    a, _b = two_runs
    monkeypatch.chdir(a.parent.parent)
    app = CompareApp(read_runs(["quickstart/run-a", "quickstart/run-b"]))

    async def drawn(pilot) -> None:
        await wait_for(pilot, lambda: len(app.screen.query(OverlayPlot)) == 4)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(120, 40), run_before=drawn)


@pytest.mark.parametrize(
    ("names", "labels"),
    [
        (["quickstart/20261201-182204", "quickstart/20261201-182208"], ["182204", "182208"]),
        (
            ["quickstart/20261201-182204", "quickstart/20261202-090000"],
            ["20261201-182204", "20261202-090000"],
        ),
        (["quickstart/run-a", "cifar/run-a"], ["quickstart/run-a", "cifar/run-a"]),
        (["quickstart/a", "quickstart/a"], ["quickstart/a", "quickstart/a"]),  # not unique
        (["quickstart/a", "quickstart/a-2"], ["a", "a-2"]),
        (["only/one"], ["only/one"]),
    ],
)
def test_column_labels_drop_what_every_run_name_shares(names, labels) -> None:
    assert short_labels(names) == labels


def test_at_80x24_identical_configs_leave_the_metrics_the_whole_width(tmp_path: Path) -> None:
    """Two repeats of one preset: the metrics panel says the configs are identical, the diff
    panel goes, and the metrics table's columns (labelled by what tells the runs apart) fit."""
    a = make_run(tmp_path, "20261201-182204")
    b = make_run(tmp_path, "20261201-182208")

    async def scenario() -> None:
        app = CompareApp(read_runs([str(a), str(b)]))
        async with app.run_test(size=(80, 24)) as pilot:
            text = await view_text(pilot)
            assert "the configs are identical" in text
            assert not app.screen.query_one("#compare-diff-panel").display
            metrics = app.screen.query_one("#compare-metrics", DataTable)
            assert [str(c.label) for c in metrics.columns.values()][1:] == ["182204", "182208"]
            header = next(line for line in text.splitlines() if "182204" in line)
            assert "182208" in header  # both runs' columns are on screen, no scrolling
            status = next(line for line in text.splitlines() if " status " in line)
            assert status.count("completed") == 2
            plots = list(app.screen.query(OverlayPlot))
            assert len({p.region.y for p in plots}) == 1  # the four plots share one row
            assert all(p.region.width >= 14 for p in plots)
            assert "╭─ Train loss ─" in text and "╭─ LR ─" in text  # the short titles

    run(scenario())


def test_at_80x24_three_runs_each_have_a_legend_entry_and_a_column(tmp_path: Path) -> None:
    """Three runs' full names do not fit 80 columns: the legend uses the column labels, so no
    run is cut off it, and every table has a column per run."""
    a = make_run(tmp_path, "20261201-182204")
    b = make_run(tmp_path, "20261201-182208", epochs=4)
    c = make_run(tmp_path, "20261201-182230", epochs=5, optim={"name": "adamw", "lr": 0.001})

    async def scenario() -> None:
        app = CompareApp(read_runs([str(a), str(b), str(c)]))
        async with app.run_test(size=(80, 24)) as pilot:
            text = await view_text(pilot)
            legend = str(app.screen.query_one("#compare-legend").render())
            assert legend.split() == ["━━", "182204", "━━", "182208", "━━", "182230"]
            assert "━━ 182204   ━━ 182208   ━━ 182230" in text  # on screen, one line
            headers = [line for line in text.splitlines() if "182204" in line and "━━" not in line]
            assert len(headers) == 2  # the config diff's and the metrics' (no scrolling)
            assert all("182208" in line and "182230" in line for line in headers)
            status = next(line for line in text.splitlines() if " status " in line)
            assert status.count("completed") == 3
            await pilot.resize_terminal(200, 40)  # room for the full names again
            await pilot.pause(0.2)
            assert "quickstart/20261201-182230" in str(
                app.screen.query_one("#compare-legend").render()
            )

    run(scenario())
