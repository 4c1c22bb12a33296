"""Shared helpers of the Pilot tests: read the screen, wait for it, demo presets."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from tui_trainer.config.loader import PresetInfo
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.widgets.plots import CurvesPlot, LossPlot

PRESET = """\
description: Digits on a small CNN, for the console tests
epochs: 3
data:
  name: digits
  batch_size: 32
optim:
  lr: 0.05
"""


class NoGpuPanel(Static):
    """The GPU slot in tests and snapshots: no telemetry, the same text every run."""

    def __init__(self) -> None:
        super().__init__("no GPU telemetry available", id="no-gpu", markup=False)


def screen_text(app: App) -> str:
    """What the terminal shows now, as plain text (rendered like `export_screenshot` does)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def wait_for(
    pilot: Pilot, check: Callable[[], bool], timeout: float = 10.0, waiting_for: str = ""
) -> None:
    """Let the app run until `check()` holds. With `waiting_for` (what the check looks for), a
    timeout says it and shows what the screen showed instead."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            if waiting_for:
                shown = screen_text(pilot.app)
                raise AssertionError(
                    f"timed out waiting for {waiting_for}; the screen shows:\n{shown}"
                )
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


async def wait_for_text(pilot: Pilot, *texts: str, timeout: float = 10.0) -> str:
    """Let the app run until the screen shows every one of `texts`; returns the screen."""

    def shows() -> bool:
        return all(t in screen_text(pilot.app) for t in texts)

    await wait_for(pilot, shows, timeout, waiting_for=repr(texts))
    return screen_text(pilot.app)


async def wait_for_epoch(pilot: Pilot, at_least: int, epochs: int, timeout: float = 10.0) -> int:
    """Let the app run until its progress line shows epoch `at_least`/`epochs` or a later one;
    returns the epoch shown. (A redraw may skip a short epoch: the console draws about once a
    second on a slow machine, so waiting for one exact epoch's text can wait forever.)"""
    pattern = re.compile(rf"Epoch (\d+)/{epochs}\b")

    def shown() -> int:
        found = pattern.search(screen_text(pilot.app))
        return int(found.group(1)) if found else -1

    await wait_for(
        pilot, lambda: shown() >= at_least, timeout, f"epoch {at_least}/{epochs} or later"
    )
    return shown()


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run one Pilot scenario (pytest-asyncio is not a dependency)."""
    asyncio.run(coro)


FAKE_PRESET = """\
description: Generated images, for the console tests
epochs: 2
data:
  name: fake
  num_samples: 256
"""


def demo_presets(folder: Path) -> list[PresetInfo]:
    """Two presets in `folder`/presets (relative paths: run from `folder`)."""
    (folder / "presets").mkdir()
    found = []
    for name, text in (("digits-demo", PRESET), ("fake-demo", FAKE_PRESET)):
        (folder / "presets" / f"{name}.yaml").write_text(text)
        found.append(PresetInfo(name, Path(f"presets/{name}.yaml"), "demo", name == "fake-demo"))
    return found


DETECT_PRESET = """\
description: Generated shapes on a tiny detector, for the console tests
task: detection
epochs: 3
data:
  name: detshapes
  image_size: 96
  batch_size: 8
model:
  name: fcos_tiny
optim:
  lr: 0.01
"""


def detection_presets(folder: Path) -> list[PresetInfo]:
    """One detection preset, `shapes-detect`, in `folder`/presets (run from `folder`)."""
    (folder / "presets").mkdir(exist_ok=True)
    (folder / "presets" / "shapes-detect.yaml").write_text(DETECT_PRESET)
    return [PresetInfo("shapes-detect", Path("presets/shapes-detect.yaml"), "demo", True)]


def run_screen(app: App) -> RunScreen:
    screen = next(s for s in app.screen_stack if isinstance(s, RunScreen))
    return screen


def charts_drawn(runner: RunScreen) -> bool:
    """The plots show the latest curves (chart redraws keep to their CPU budget)."""
    plot = runner.query_one(LossPlot)
    return plot.curves is runner.model.curves and plot.current


async def charts_settled(pilot: Pilot, runner: RunScreen) -> None:
    """The plots drawn with the latest curves and exactly fitted y margins: how many redraws
    the budget allowed on the way (timing) must not show in a snapshot."""
    await wait_for(pilot, lambda: charts_drawn(runner))
    for plot in runner.query(CurvesPlot):
        plot.refit()
    await pilot.pause()
    await pilot.pause()


async def held_mid_run(pilot: Pilot) -> RunScreen:
    """The run screen of a script held at epoch 2, step 6, its charts drawn."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
    runner = run_screen(pilot.app)
    model = runner.model
    await wait_for(pilot, lambda: (model.progress.epoch, model.progress.step) == (2, 6))
    await charts_settled(pilot, runner)
    return runner
