"""Steering from the run screen (Pilot) and over the control socket (`ctl`, `watch`).

The console's dialogs run on the scripted engine (tests/support/scripted.py honours steering like
the engine); `ctl` and `watch` talk to a real run training in a thread of this process, paused so
that every change lands at one known step.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from support.pilot import (
    NoGpuPanel,
    demo_presets,
    run,
    run_screen,
    screen_text,
    wait_for,
    wait_for_text,
)
from support.runs import TINY
from support.scripted import ScriptedExecutor

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.remote import endpoint
from tui_trainer.remote.client import request
from tui_trainer.remote.server import RunServer
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import Paused, RunStarted, Steered, StepProgress
from tui_trainer.session import execute
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.steer import SteerDialog


def log_text(app: TrainerApp) -> str:
    return run_screen(app).query_one("RunLog").plain_text


def console(tmp_path: Path, script: ScriptedExecutor) -> TrainerApp:
    """The console started on the demo preset with `script` as its engine."""
    return TrainerApp(
        "digits-demo",
        executor=script,
        presets=demo_presets(tmp_path),
        gpu_panel=NoGpuPanel,
        start=True,
    )


def test_dialogs_show_the_value_escape_cancels_enter_sends(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    script = ScriptedExecutor(epochs=3, steps=12, hold=(1, 3))

    async def scenario() -> None:
        app = console(tmp_path, script)
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            screen = run_screen(app)
            await wait_for(pilot, lambda: screen.model.progress.step == 3)
            titles = [c.title for c in app.get_system_commands(screen)]
            assert {"Steer: learning rate", "Steer: unfreeze", "Steer: epochs"} <= set(titles)

            await pilot.press("e")  # the current value, then Escape: nothing is sent
            await wait_for(pilot, lambda: isinstance(app.screen, SteerDialog))
            text = screen_text(app)
            assert "The run has 3 epochs; epoch 1 is in progress." in text
            assert "re-plan" in text
            await pilot.press("escape")
            assert isinstance(app.screen, RunScreen)

            await pilot.press("l")  # a bad value stays in the dialog with the reason
            await wait_for(pilot, lambda: isinstance(app.screen, SteerDialog))
            lr = screen.model.lr
            assert f"Current learning rate: {lr:.4g}" in screen_text(app)
            await pilot.press("minus", "1", "enter")
            await wait_for_text(pilot, "lr: expected a finite number > 0")
            assert isinstance(app.screen, SteerDialog)
            await pilot.press("backspace", "backspace", "asterisk", "0", "full_stop", "5")
            await pilot.press("enter")  # Enter sends
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            await wait_for(pilot, lambda: "lr=*0.5: sent" in log_text(app))

            await pilot.press("u", "enter")  # refused by the run: the reason in the log
            await wait_for(pilot, lambda: "unfreeze refused: nothing is frozen" in log_text(app))
            await pilot.press("v")
            await wait_for_text(pilot, "Validate now", "the epoch goes on")
            await pilot.press("enter")
            await wait_for(pilot, lambda: "validate: sent" in log_text(app))

            script.release()  # the next boundary applies both, in order; the log says so
            await wait_for(pilot, lambda: "step 3: validate" in log_text(app))
            assert script.steered == [(3, "lr=*0.5"), (3, "validate")]
            assert "step 3: lr=*0.5" in log_text(app)
            screen.stop_for_exit()

    run(scenario())


# -- over the socket: ctl and watch ------------------------------------------------------------
class LiveRun:
    """A real tiny run in a thread, with its control socket, paused from its third step on."""

    def __init__(self, out: Path) -> None:
        config, name = load_config("quickstart", [*TINY, "epochs=3", f"out={out}"])
        self.control = Control()
        self.events: list = []
        self.run_dir: Path | None = None
        self.paused = threading.Event()
        self.paused_at = 0  # the global step it pauses at (progress is throttled: 3 or later)
        server = RunServer(self.control)
        self.thread = threading.Thread(
            target=execute,
            args=(config, name),
            kwargs={"sinks": [self._sink, server], "control": self.control},
            daemon=True,
        )
        self.thread.start()

    def _sink(self, event) -> None:
        self.events.append(event)
        if isinstance(event, RunStarted):
            self.run_dir = Path(event.run_dir)
        if isinstance(event, StepProgress) and event.global_step >= 3 and not self.paused_at:
            self.paused_at = event.global_step  # it pauses at this step's boundary
            self.control.pause()
        if isinstance(event, Paused):
            self.paused.set()

    def steered(self) -> list[Steered]:
        return [e for e in self.events if isinstance(e, Steered)]


def test_ctl_steers_a_live_run_and_refuses_with_a_reason(tmp_path, private_runtime, capsys):
    live = LiveRun(tmp_path / "runs")
    assert live.paused.wait(120)
    run_dir = str(live.run_dir)
    assert main(["ctl", run_dir, "lr=0.001"]) == 0
    assert (
        "lr=0.001: ok (takes effect at the next optimizer step boundary)" in capsys.readouterr().out
    )
    for change, reason in (
        ("lr=-1", "lr: expected a finite number > 0"),
        ("unfreeze", "refused: nothing is frozen"),
        ("epochs=0", "epochs: expected a whole number >= 1"),
        ("bogus", "expected one of pause, resume"),
    ):
        assert main(["ctl", run_dir, change]) == 2
        err = capsys.readouterr().err.strip()
        assert reason in err and len(err.splitlines()) == 1, err
    for bad, error in (
        ({}, "change: expected a string"),
        ({"change": 5}, "change: expected a string"),
        ({"change": "x" * 200}, "at most 100 characters"),
    ):
        reply = request(run_dir, "steer", **bad)
        assert reply["ok"] is False and error in reply["error"]
    assert main(["ctl", run_dir, "epochs=4"]) == 0
    wait_until(lambda: len(live.steered()) == 2)
    assert [(e.global_step, e.change, e.source) for e in live.steered()] == [
        (live.paused_at, "lr=0.001", "live"),
        (live.paused_at, "epochs=4", "live"),
    ]
    assert main(["ctl", run_dir, "stop", "--now"]) == 0
    live.thread.join(120)
    assert main(["ctl", run_dir, "validate"]) == 2  # the run has ended (and its socket is gone)


def wait_until(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_watch_steers_through_the_same_dialogs(tmp_path, private_runtime) -> None:
    live = LiveRun(tmp_path / "runs")
    assert live.paused.wait(120)
    wait_until(lambda: (live.run_dir / endpoint.POINTER).exists())

    async def scenario() -> None:
        app = TrainerApp(watch=str(live.run_dir), gpu_panel=NoGpuPanel)
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            screen = run_screen(app)
            await wait_for(pilot, lambda: screen.model.progress.epochs == 3, timeout=60)
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, SteerDialog))
            assert "The run has 3 epochs" in screen_text(app)
            await pilot.press("backspace", "5", "enter")
            await wait_for(pilot, lambda: "epochs=5: sent" in log_text(app), timeout=30)
            logged = f"step {live.paused_at}: epochs 3 → 5"
            await wait_for(pilot, lambda: logged in log_text(app), timeout=60)
            await wait_for(pilot, lambda: screen.model.progress.epochs == 5, timeout=30)
            live.control.request_stop(StopMode.STEP)
            await wait_for(pilot, lambda: not screen.model.active, timeout=120)

    run(scenario())
    live.thread.join(120)
    assert [(e.global_step, e.change) for e in live.steered()] == [(live.paused_at, "epochs=5")]


def test_the_footer_lists_the_steering_keys_where_it_has_room(tmp_path, monkeypatch) -> None:
    """120 columns: l LR · u Unfreeze · e Epochs · v Validate in the footer, Help still in
    view; 80 columns: not listed, and each key still opens its dialog."""
    monkeypatch.chdir(tmp_path)
    script = ScriptedExecutor(epochs=3, steps=12, hold=(1, 3))

    async def scenario() -> None:
        app = console(tmp_path, script)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            screen = run_screen(app)
            await wait_for(pilot, lambda: screen.model.progress.step == 3)
            keys = ("l LR", "u Unfreeze", "e Epochs", "v Validate")
            await wait_for(pilot, lambda: all(k in screen_text(app).splitlines()[-1] for k in keys))
            assert "? Help" in screen_text(app).splitlines()[-1]
            await pilot.resize_terminal(80, 24)
            await wait_for(pilot, lambda: "l LR" not in screen_text(app).splitlines()[-1])
            footer = screen_text(app).splitlines()[-1]
            assert "p Pause" in footer and "? Help" in footer
            for key, title in (("l", "learning rate"), ("u", "nfreeze"), ("e", "epochs")):
                await pilot.press(key)
                await wait_for(pilot, lambda: isinstance(app.screen, SteerDialog))
                assert title in screen_text(app).lower(), key
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is screen)
            script.release()

    run(scenario())
