"""Snapshots of the runs browser (the list and one run's detail) at 80x24 and 120x40.

Deterministic: run directories written by the real writer from the scripted engine, with fixed
clock values (tests/support/runsdirs.py), shown in UTC, under a relative `runs` root.
Update with `pytest tests/snapshot/test_runs_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.pilot import NoGpuPanel, demo_presets, wait_for
from support.runsdirs import T0, damage, fix_times, make_run
from support.scripted import ScriptedExecutor
from textual.pilot import Pilot
from textual.widgets import DataTable

from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.run_detail import RunDetailScreen
from tui_trainer.tui.screens.runs import RunsScreen
from tui_trainer.tui.widgets.plots import RunPlot

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def browser_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TrainerApp:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = Path("runs")
    for i, (preset, name, epochs) in enumerate(
        (
            ("quickstart", "20261130-100000", 3),
            ("quickstart", "20261130-110000", 4),
            ("cifar10-small-cnn", "20261130-120000", 6),
            ("quickstart", "20261130-130000", 2),
        )
    ):
        lr = {"name": "sgd", "lr": 0.05 / (i + 1), "momentum": 0.9}
        fix_times(make_run(root, preset, name, epochs=epochs, optim=lr), T0 + 3600 * i)
    damage(root / "quickstart" / "20261130-130000")
    yield TrainerApp(
        executor=ScriptedExecutor(), presets=demo_presets(tmp_path), gpu_panel=NoGpuPanel
    )
    monkeypatch.delenv("TZ")
    time.tzset()


async def listed(pilot: Pilot) -> RunsScreen:
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.listing is not None)
    return screen


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_runs_list(snap_compare, browser_app: TrainerApp, size: tuple[int, int]) -> None:
    async def marked(pilot: Pilot) -> None:
        await listed(pilot)
        await pilot.press("down", "space", "space")  # two runs marked, cursor on the third

    assert snap_compare(browser_app, terminal_size=size, run_before=marked)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_run_detail(snap_compare, browser_app: TrainerApp, size: tuple[int, int]) -> None:
    async def opened(pilot: Pilot) -> None:
        screen = await listed(pilot)
        screen.query_one("#runs-table", DataTable).move_cursor(row=1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen))
        detail = pilot.app.screen
        await wait_for(pilot, lambda: detail.opened is not None)
        await wait_for(pilot, lambda: all(p._drawn for p in detail.query(RunPlot)))

    assert snap_compare(browser_app, terminal_size=size, run_before=opened)
