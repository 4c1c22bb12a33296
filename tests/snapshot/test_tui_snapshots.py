"""Snapshots of the setup, run and summary screens at 80x24 and 120x40.

Deterministic: a scripted trainer with fixed numbers and virtual time, fixed presets, no clocks
or machine-dependent paths on screen. Update after an intended change with
`pytest tests/snapshot/test_tui_snapshots.py --snapshot-update` and look at the report it writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pilot import (
    NoGpuPanel,
    charts_settled,
    demo_presets,
    held_mid_run,
    run_screen,
    wait_for,
)
from support.scripted import ScriptedExecutor
from textual.pilot import Pilot
from textual.widgets import Input

from tui_trainer.config.loader import PresetInfo
from tui_trainer.telemetry.gpu import GpuSnapshot
from tui_trainer.telemetry.host import HostSample
from tui_trainer.telemetry.sampler import TelemetrySnapshot
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.summary import SummaryScreen
from tui_trainer.tui.widgets.gpu_panel import GpuPanel

SIZES = [(80, 24), (120, 40)]
WITH_TINY = [(60, 20), *SIZES]  # the -tiny layouts (under 72 columns) too


@pytest.fixture
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[PresetInfo]:
    monkeypatch.chdir(tmp_path)
    return demo_presets(tmp_path)


def app(presets: list[PresetInfo], script: ScriptedExecutor, start: bool = False) -> TrainerApp:
    return TrainerApp(
        "digits-demo", start=start, executor=script, presets=presets, gpu_panel=NoGpuPanel
    )


@pytest.mark.parametrize("size", WITH_TINY, ids=["60x20", "80x24", "120x40"])
def test_setup_screen(snap_compare, presets: list[PresetInfo], size: tuple[int, int]) -> None:
    assert snap_compare(app(presets, ScriptedExecutor()), terminal_size=size)


def test_setup_screen_flags_bad_values(snap_compare, presets: list[PresetInfo]) -> None:
    async def type_bad_values(pilot: Pilot) -> None:
        pilot.app.screen.query_one("#f-epochs", Input).value = "0"
        pilot.app.screen.query_one("#f-lr", Input).value = "fast"
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#err-lr").display)

    assert snap_compare(app(presets, ScriptedExecutor()), run_before=type_bad_values)


@pytest.mark.parametrize("size", WITH_TINY, ids=["60x20", "80x24", "120x40"])
def test_run_screen(snap_compare, presets: list[PresetInfo], size: tuple[int, int]) -> None:
    script = ScriptedExecutor(epochs=3, steps=12, hold=(2, 6))

    assert snap_compare(
        app(presets, script, start=True), terminal_size=size, run_before=held_mid_run
    )


def test_run_screen_paused(snap_compare, presets: list[PresetInfo]) -> None:
    script = ScriptedExecutor(epochs=3, steps=12, hold=(2, 6))

    async def paused(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
        runner = run_screen(pilot.app)
        await wait_for(pilot, lambda: runner.model.progress.step == 6)
        await pilot.press("p")
        script.release()
        await wait_for(pilot, lambda: runner.model.state == "paused")
        await charts_settled(pilot, runner)

    assert snap_compare(app(presets, script, start=True), run_before=paused)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_summary_screen(snap_compare, presets: list[PresetInfo], size: tuple[int, int]) -> None:
    async def finished(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))

    script = ScriptedExecutor(epochs=3, steps=12)
    assert snap_compare(app(presets, script, start=True), terminal_size=size, run_before=finished)


NO_GPU = TelemetrySnapshot(
    sequence=1,
    timestamp=0.0,
    gpu=GpuSnapshot(False, reason="no NVIDIA driver installed (libnvidia-ml.so.1 not found)"),
    host=HostSample(42.0, 8, 12 * 2**30, 32 * 2**30, 180.0, 3 * 2**30, 4, 320.0, 2 * 2**30),
    torch_memory=None,
    cpu_history=(20.0, 40.0, 60.0, 42.0),
)


@pytest.mark.parametrize("size", WITH_TINY, ids=["60x20", "80x24", "120x40"])
def test_run_screen_gpu_panel_without_a_gpu(
    snap_compare, presets: list[PresetInfo], size: tuple[int, int]
) -> None:
    """The real GPU panel in its slot: at 80x24 the host lines stay in view (by priority)."""
    script = ScriptedExecutor(epochs=3, steps=12, hold=(2, 6))

    async def mid_run(pilot: Pilot) -> None:
        runner = await held_mid_run(pilot)
        await wait_for(pilot, lambda: "CPU" in str(runner.query_one(GpuPanel)._host.cpu.text))

    panel_app = TrainerApp(
        "digits-demo",
        start=True,
        executor=script,
        presets=presets,
        gpu_panel=lambda: GpuPanel(lambda: NO_GPU, interval=60.0),
    )
    assert snap_compare(panel_app, terminal_size=size, run_before=mid_run)
