"""Snapshots of pictures in the console, drawn with half-blocks: the run screen's samples panel
(classification and segmentation) and the gallery with its confusion heatmap, at 80x24 and
120x40. Deterministic: fixed PNGs (tests/support/pictures.py), a scripted run, virtual time.
Update after an intended change with `--snapshot-update` and look at the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pictures import (
    SamplesAfterEpochs,
    settled,
    write_classification_run,
    write_segmentation_run,
)
from support.pilot import NoGpuPanel, demo_presets, wait_for
from support.scripted import ScriptedExecutor
from textual.pilot import Pilot

from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.gallery import GalleryScreen
from tui_trainer.tui.screens.summary import SummaryScreen
from tui_trainer.tui.widgets.samples_panel import SamplesPanel

SIZES = [(80, 24), (120, 40)]
IDS = ["80x24", "120x40"]
RUN_DIR = "runs/scripted/20250101-000000"


def app(folder: Path, epochs: int) -> TrainerApp:
    return TrainerApp(
        "digits-demo",
        start=True,
        executor=SamplesAfterEpochs(ScriptedExecutor(epochs=epochs, steps=6)),
        presets=demo_presets(folder),
        gpu_panel=NoGpuPanel,
        images="halfblock",
    )


async def samples_shown(pilot: Pilot) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
    await pilot.press("b", "i")
    await wait_for(pilot, lambda: bool(pilot.app.screen.query(SamplesPanel)))
    await settled(pilot, pilot.app.screen.query_one(SamplesPanel).show_current)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_samples_panel_classification(
    snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_classification_run(tmp_path / RUN_DIR, epochs=3, count=12)
    assert snap_compare(app(tmp_path, 3), terminal_size=size, run_before=samples_shown)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_samples_panel_segmentation(
    snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_segmentation_run(tmp_path / RUN_DIR, epochs=2, count=8)
    assert snap_compare(app(tmp_path, 2), terminal_size=size, run_before=samples_shown)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_gallery_with_heatmap(
    snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_classification_run(tmp_path / RUN_DIR, epochs=1, count=3)

    async def gallery_on_a_cell(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SummaryScreen))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, GalleryScreen))
        await pilot.press("down", "right", "right")  # dog → bird
        gallery = pilot.app.screen
        assert isinstance(gallery, GalleryScreen)
        await settled(pilot, gallery.show_pictures)

    assert snap_compare(app(tmp_path, 1), terminal_size=size, run_before=gallery_on_a_cell)
