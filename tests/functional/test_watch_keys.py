"""Keys in `watch` (issue 22): every key leads somewhere, leaving says how to come back."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.pilot import NoGpuPanel, demo_presets, run, wait_for, wait_for_text
from support.runsdirs import make_run
from support.scripted import ScriptedExecutor

from tui_trainer.remote.client import request
from tui_trainer.remote.endpoint import NotLive
from tui_trainer.remote.server import RunServer
from tui_trainer.rundir import RunDirLock
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.sinks.files import RunDirWriter, write_config
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.exit_lines import print_left_running
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.runs import RunsScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.screens.summary import SummaryScreen


@pytest.fixture(autouse=True)
def _own_socket_dir_and_cwd(private_runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)


def watch_app(tmp_path: Path, run_dir: Path) -> TrainerApp:
    presets = demo_presets(tmp_path)
    return TrainerApp(
        watch=str(run_dir), presets=presets, gpu_panel=NoGpuPanel, executor=ScriptedExecutor()
    )


@pytest.mark.parametrize("where", ["summary", "run"])
def test_n_on_a_finished_watched_run_opens_setup(tmp_path: Path, where: str) -> None:
    """`n` popped every screen of `watch` and left Textual's blank default screen."""
    run_dir = make_run(tmp_path / "runs", "quickstart", "20261201-080000")

    async def scenario() -> None:
        app = watch_app(tmp_path, run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            if where == "run":
                await pilot.press("b")
                await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            await wait_for_text(pilot, "digits-demo")
            assert len(app.screen_stack) == 2  # the setup screen on the default screen
            await pilot.press("ctrl+r")  # the console's own run, from watch
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen), 20)
            assert app.last_result is not None and app.last_result.status == "completed"
            assert app.left_running is None

    run(scenario())


def live_status(run_dir: Path) -> bool:
    try:
        reply = request(run_dir, "status", timeout=1.0)
    except NotLive:
        return False
    return bool(reply and reply.get("ok"))


@contextlib.contextmanager
def live_run(out: Path) -> Iterator[tuple[Path, Control, threading.Thread]]:
    """A scripted run that serves its socket and holds in epoch 2 until the test ends."""
    run_dir = out / "quickstart" / "20261201-090000"
    run_dir.mkdir(parents=True)
    write_config(run_dir, {"epochs": 3, "data": {"batch_size": 32}}, "quickstart")
    lock = RunDirLock.acquire(run_dir)
    control = Control()
    live = ScriptedExecutor(epochs=3, steps=12, hold=(2, 3), run_dir=str(run_dir))
    sinks = [RunDirWriter(run_dir, "quickstart"), RunServer(control)]
    thread = threading.Thread(
        target=live, args=({}, "quickstart"), kwargs={"sinks": sinks, "control": control}
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not (run_dir / "metrics.jsonl").exists() or not live_status(run_dir):
            assert time.monotonic() < deadline, "the scripted run never served its socket"
            time.sleep(0.05)
        yield run_dir, control, thread
    finally:
        live.release()
        thread.join(10)
        lock.release()


def test_q_leaving_a_live_watched_run_says_it_goes_on_and_how_to_reattach(
    tmp_path: Path,
) -> None:
    with live_run(tmp_path / "runs") as (run_dir, control, thread):

        async def scenario() -> TrainerApp:
            app = watch_app(tmp_path, run_dir)
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
                runner = app.screen
                await wait_for(pilot, lambda: runner.model.progress.epoch == 2)
                await pilot.press("n")  # nothing while the run goes on
                assert app.screen is runner
                await pilot.press("q")
            return app

        app = asyncio.run(scenario())
        assert app.return_code == 0 and thread.is_alive()
        assert control.stop_mode == StopMode.NONE
        assert app.left_running == str(run_dir)
        shown = io.StringIO()
        print_left_running(app.left_running, shown)
        line = shown.getvalue()
        assert line.count("\n") == 1 and "the run goes on" in line
        assert line.rstrip().endswith(f"tui-trainer watch {run_dir}")


def test_q_leaving_a_run_attached_from_the_browser_says_it_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    with live_run(out) as (run_dir, control, thread):

        async def scenario() -> None:
            app = TrainerApp(
                presets=demo_presets(tmp_path), gpu_panel=NoGpuPanel, out=str(out),
                executor=ScriptedExecutor(),
            )  # fmt: skip
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
                await pilot.press("f3")
                await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
                browser = app.screen
                await wait_for(pilot, lambda: len(browser.shown) == 1 and browser.shown[0].live)
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
                runner = app.screen
                await wait_for(pilot, lambda: runner.model.progress.epoch == 2)
                await pilot.press("q")
                await wait_for(pilot, lambda: app.screen is browser)
                notes = [n.message for n in app._notifications]
                assert any("the run goes on" in n and str(run_dir) in n for n in notes), notes

        run(scenario())
        assert thread.is_alive() and control.stop_mode == StopMode.NONE


def test_gpu_panel_this_run_follows_a_run_watched_from_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run attached from the runs browser (or started in the background): "this run" read
    the console's own process (0.0 cores) instead of the run's."""
    import os
    import subprocess
    import sys

    from tui_trainer.remote.endpoint import Endpoint
    from tui_trainer.tui import app as app_module
    from tui_trainer.tui.screens.run_actions import WatchRun

    run_dir = make_run(tmp_path / "runs", "quickstart", "20261201-080000")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    pointers = {str(run_dir): Endpoint("unused", other.pid)}
    monkeypatch.setattr(app_module, "read_pointer", lambda d: pointers.get(str(d)))

    async def scenario() -> None:
        app = TrainerApp(presets=demo_presets(tmp_path), executor=ScriptedExecutor())
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            assert app.host is not None and app.host.pid == os.getpid()
            app.screen.post_message(WatchRun(str(run_dir)))
            await wait_for(pilot, lambda: app.host.pid == other.pid)
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            await pilot.press("n", "ctrl+r")  # a run of the console's own: this process again
            await wait_for(pilot, lambda: app.host.pid == os.getpid())
            assert any(isinstance(s, RunScreen) for s in app.screen_stack)

    try:
        run(scenario())
    finally:
        other.kill()
        other.wait()
