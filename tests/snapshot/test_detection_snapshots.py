"""Snapshots of a detection run's screens at 80x24 and 120x40: the run screen (mAP with mAP50,
the loss parts under the total, the epoch table's columns) and the summary (per-class AP table,
the box picture).

Deterministic: the scripted trainer in its detection mode, fixed numbers and virtual time. Update
after an intended change with `pytest tests/snapshot/test_detection_snapshots.py
--snapshot-update` and look at the report it writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pilot import NoGpuPanel, detection_presets, held_mid_run, wait_for
from support.scripted import ScriptedExecutor
from textual.pilot import Pilot

from tui_trainer.config.loader import PresetInfo
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.summary import SummaryScreen

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[PresetInfo]:
    monkeypatch.chdir(tmp_path)
    return detection_presets(tmp_path)


def app(presets: list[PresetInfo], script: ScriptedExecutor) -> TrainerApp:
    return TrainerApp(
        "shapes-detect", start=True, executor=script, presets=presets, gpu_panel=NoGpuPanel
    )


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_detection_run_screen(
    snap_compare, presets: list[PresetInfo], size: tuple[int, int]
) -> None:
    script = ScriptedExecutor(epochs=3, steps=12, hold=(2, 6))
    assert snap_compare(app(presets, script), terminal_size=size, run_before=held_mid_run)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_detection_summary(snap_compare, presets: list[PresetInfo], size: tuple[int, int]) -> None:
    async def finished(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))

    script = ScriptedExecutor(epochs=3, steps=12)
    assert snap_compare(app(presets, script), terminal_size=size, run_before=finished)
