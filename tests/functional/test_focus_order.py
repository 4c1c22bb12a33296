"""Tab visits only visible, interactive widgets, on every screen and at small sizes (issue 17:
"the first Tab from the preset list lands on a dead stop")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.pilot import NoGpuPanel, demo_presets, wait_for
from support.scripted import ScriptedExecutor
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, OptionList, RadioSet, RichLog, Select

from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.widgets.epoch_table import EpochTable

INTERACTIVE = (Button, Checkbox, Input, OptionList, RadioSet, Select, RichLog, EpochTable)
"""What a Tab stop may be: widgets that take keys and show focus (a log and the epoch table
scroll with the keys)."""

SIZES = [(120, 40), (80, 24), (60, 20)]


def check_stop(app: TrainerApp, widget: Widget | None) -> str:
    assert widget is not None, "Tab left nothing focused"
    name = f"{type(widget).__name__}#{widget.id}"
    assert isinstance(widget, INTERACTIVE), f"dead stop: {name} takes no keys"
    region = widget.region
    screen = app.screen.region
    assert region.area > 0 and screen.contains_region(region), f"{name} is not in view: {region}"
    assert widget.visible and widget.display, name
    return name


async def tab_round(app: TrainerApp, pilot) -> list[str]:
    """Tab from the first focused widget until focus comes back; the stops visited."""
    first = check_stop(app, app.focused)
    stops = [first]
    for _ in range(60):
        await pilot.press("tab")
        await pilot.pause()
        name = check_stop(app, app.focused)
        if name == first:
            return stops
        stops.append(name)
    raise AssertionError(f"Tab never came back to {first}: {stops}")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_setup_screen_tab_stops(tmp_path: Path, monkeypatch, size) -> None:
    monkeypatch.chdir(tmp_path)

    async def scenario() -> list[str]:
        app = TrainerApp("digits-demo", executor=ScriptedExecutor(),
                         presets=demo_presets(tmp_path), gpu_panel=NoGpuPanel)  # fmt: skip
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return await tab_round(app, pilot)

    stops = asyncio.run(scenario())
    assert stops[0] == "OptionList#presets" and stops[1] == "Checkbox#f-freeze"
    assert "Button#start" in stops


@pytest.mark.parametrize("size", SIZES[1:], ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_screen_tab_stops(tmp_path: Path, monkeypatch, size) -> None:
    monkeypatch.chdir(tmp_path)
    script = ScriptedExecutor(epochs=2, steps=6, hold=(1, 3))

    async def scenario() -> list[str]:
        app = TrainerApp("digits-demo", start=True, executor=script,
                         presets=demo_presets(tmp_path), gpu_panel=NoGpuPanel)  # fmt: skip
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            await pilot.pause()
            stops = await tab_round(app, pilot)
            script.release()
            return stops

    assert asyncio.run(scenario()) == ["EpochTable#epochs", "RunLog#log"]
