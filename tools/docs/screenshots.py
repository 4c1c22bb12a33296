"""SVG screenshots of the console's main screens for docs/images/, taken by Textual from the
same scripted runs the snapshot tests use (tests/support: the scripted engine, the demo presets,
run directories written by the real writer with fixed clocks), so the pictures show what the
code draws today. `python -m tools.docs screenshots` regenerates them all."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMAGES = Path("docs/images")
SIZE = (120, 40)

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))  # the shared test helpers (tests/support)

from support.pictures import SamplesAfterEpochs, settled, write_classification_run  # noqa: E402
from support.pilot import NoGpuPanel, demo_presets, held_mid_run, wait_for  # noqa: E402
from support.runsdirs import T0, fix_times, make_run  # noqa: E402
from support.scripted import ScriptedExecutor  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from tui_trainer.tui.app import TrainerApp  # noqa: E402
from tui_trainer.tui.screens.gallery import GalleryScreen  # noqa: E402
from tui_trainer.tui.widgets.samples_panel import SamplesPanel  # noqa: E402

Scenario = Callable[[Pilot], Awaitable[object]]


@contextmanager
def stage() -> Any:
    """A temp working folder with the demo presets and four finished runs, clocks in UTC."""
    old_cwd, old_tz = Path.cwd(), os.environ.get("TZ")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        os.environ["TZ"] = "UTC"
        time.tzset()
        try:
            presets = demo_presets(folder)
            for i, (preset, name, epochs) in enumerate(
                (
                    ("quickstart", "20261130-100000", 3),
                    ("quickstart", "20261130-110000", 4),
                    ("cifar10-small-cnn", "20261130-120000", 6),
                )
            ):
                lr = {"name": "sgd", "lr": 0.05 / (i + 1), "momentum": 0.9}
                run_dir = make_run(Path("runs"), preset, name, epochs=epochs, optim=lr)
                fix_times(run_dir, T0 + 3600 * i)
            yield presets
        finally:
            os.chdir(old_cwd)
            if old_tz is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old_tz
            time.tzset()


def _screen(name: str) -> Callable[[Pilot], bool]:
    return lambda pilot: type(pilot.app.screen).__name__ == name


async def _setup(pilot: Pilot) -> None:
    await wait_for(pilot, lambda: _screen("SetupScreen")(pilot))


async def _summary(pilot: Pilot) -> None:
    await wait_for(pilot, lambda: _screen("SummaryScreen")(pilot))


async def _runs(pilot: Pilot) -> None:
    await pilot.press("f3")
    await wait_for(pilot, lambda: _screen("RunsScreen")(pilot))
    screen: Any = pilot.app.screen
    await wait_for(pilot, lambda: screen.listing is not None)
    await pilot.press("space", "down", "space")  # two runs marked


async def _detail(pilot: Pilot) -> None:
    await _runs(pilot)
    screen: Any = pilot.app.screen
    screen.query_one("#runs-table", DataTable).move_cursor(row=1)
    await pilot.press("enter")
    await wait_for(pilot, lambda: _screen("RunDetailScreen")(pilot))
    detail: Any = pilot.app.screen
    await wait_for(pilot, lambda: detail.opened is not None)
    await wait_for(pilot, lambda: all(p._drawn for p in detail.query("RunPlot")))


async def _compare(pilot: Pilot) -> None:
    await _runs(pilot)
    await pilot.press("c")
    await wait_for(pilot, lambda: _screen("CompareScreen")(pilot))
    compare = pilot.app.screen
    await wait_for(pilot, lambda: len(compare.query("OverlayPlot")) == 4)
    await pilot.pause(0.3)


PICTURES_RUN = Path("runs/scripted/20250101-000000")  # where the scripted run's sets are written


async def _samples(pilot: Pilot) -> None:
    await _summary(pilot)
    await pilot.press("b", "i")
    await wait_for(pilot, lambda: bool(pilot.app.screen.query(SamplesPanel)))
    await settled(pilot, pilot.app.screen.query_one(SamplesPanel).show_current)


async def _gallery(pilot: Pilot) -> None:
    await _summary(pilot)
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, GalleryScreen))
    gallery: Any = pilot.app.screen
    await settled(pilot, gallery.show_pictures)


SHOTS: dict[str, tuple[dict[str, Any], Scenario]] = {
    "setup": ({}, _setup),
    "run": ({"start": True, "script": {"hold": (2, 6)}}, held_mid_run),
    "summary": ({"start": True, "script": {}}, _summary),
    "runs": ({}, _runs),
    "run-detail": ({}, _detail),
    "compare": ({}, _compare),
    "samples": ({"start": True, "script": {}, "pictures": 12}, _samples),
    "gallery": ({"start": True, "script": {}, "pictures": 3}, _gallery),
}
"""Each picture: how the app is made and what is done before it is taken."""


async def _take(name: str, presets: Any, out: Path) -> Path:
    options, scenario = SHOTS[name]
    script = ScriptedExecutor(epochs=3, steps=12, **options.get("script", {}))
    executor: Any = script
    pictures = options.get("pictures")
    if pictures:  # the sets a run writing pictures leaves, and its SamplesWritten events
        write_classification_run(PICTURES_RUN, epochs=3, count=pictures)
        executor = SamplesAfterEpochs(script)
    app = TrainerApp(
        "digits-demo",
        start=options.get("start", False),
        executor=executor,
        presets=presets,
        gpu_panel=NoGpuPanel,
        images="halfblock" if pictures else "none",
    )
    async with app.run_test(size=SIZE) as pilot:
        await scenario(pilot)
        await pilot.pause()
        svg = app.export_screenshot(title=f"tui-trainer: {name}")
        script.release()
    path = out / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def write(root: Path, names: list[str] | None = None) -> list[Path]:
    """Take every picture (or `names`) into `root`/docs/images; returns the files written."""
    out = (root / IMAGES).resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with stage() as presets:
        for name in names or list(SHOTS):
            written.append(asyncio.run(_take(name, presets, out)))
    return written
