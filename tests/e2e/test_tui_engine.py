"""The console on the real engine (quickstart, shortened): keys, run dir, quitting, latency."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.pilot import run, run_screen, screen_text, wait_for, wait_for_text
from support.runs import only_run_dir
from textual import events

from tui_trainer.config.preset_list import list_presets
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import RunFinished
from tui_trainer.session import execute
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.dialogs import ConfirmQuit
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.summary import SummaryScreen

# Epochs are short (~0.1 s on 2 idle cores, longer on a busy machine); there are enough of them
# to still be training whenever a key is pressed: every test stops its run itself.
OVERRIDES = ["epochs=200", "data.batch_size=64", "device=cpu", "progress.interval=0.05"]


def paused_from_the_start(config: Any, preset: str, *, control: Control, **kw: Any) -> RunFinished:
    """The real engine, as if p had been pressed just as training began."""
    control.pause()
    return execute(config, preset, control=control, **kw)


def quickstart() -> list:
    return [p for p in list_presets() if p.name == "quickstart"]


@pytest.mark.slow
def test_pause_checkpoint_stop_on_the_real_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a short run directory: the summary's rows show it whole at
    out = Path("runs")  # 100 columns, however long pytest's temp path grows

    async def scenario() -> None:
        app = TrainerApp(
            "quickstart",
            OVERRIDES,
            out=str(out),
            executor=paused_from_the_start,
            presets=quickstart(),
        )
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+r")  # setup → start
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            runner = run_screen(app)
            await wait_for_text(pilot, "PAUSED", "Epoch 1/200", "p Resume", timeout=30)
            run_dir = only_run_dir(out)
            assert (run_dir / "config.yaml").is_file()

            await pilot.press("c")  # checkpoint while paused; the log gives the path
            await wait_for_text(pilot, "checkpoint saved (request")
            last = run_dir / "checkpoints" / "last.pt"
            assert last.is_file()
            assert str(last) in runner.query_one("RunLog").plain_text

            await pilot.press("p")  # resume, train a while, pause again
            await wait_for(pilot, lambda: len(runner.model.curves.train) > 5)
            await pilot.press("p")
            paused = await wait_for_text(pilot, "PAUSED")
            await pilot.pause(0.4)
            assert screen_text(app).splitlines()[2:4] == paused.splitlines()[2:4]  # clocks stop

            await pilot.press("s")  # stop after this epoch
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=30)
            text = await wait_for_text(pilot, "STOPPED", "tui-trainer replay", "recall")
            assert runner.summary()["replay_command"] == f"tui-trainer replay {run_dir}"
            assert run_dir.name in text
            await pilot.press("q")  # nothing running: quits at once
        assert app.return_code == 0

        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "stopped"
        done = summary["epochs_completed"]
        assert 1 <= done < 200
        epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        assert len([e for e in epochs if e["event"] == "epoch"]) == done
        assert (run_dir / "metrics.csv").is_file()
        assert (run_dir / "checkpoints" / "best.pt").is_file()

    run(scenario())


@pytest.mark.slow
def test_quit_while_training_saves_a_checkpoint_and_exits(tmp_path: Path) -> None:
    out = tmp_path / "runs"

    async def scenario() -> None:
        app = TrainerApp("quickstart", OVERRIDES, start=True, out=str(out), presets=quickstart())
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            runner = run_screen(app)
            await wait_for(pilot, lambda: len(runner.model.curves.train) > 0, timeout=30)
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmQuit)
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.is_running, timeout=30)
        assert app.return_code == 0
        run_dir = only_run_dir(out)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "stopped"
        assert (run_dir / "checkpoints" / "last.pt").is_file()

    run(scenario())


@pytest.mark.slow
def test_pause_takes_effect_within_a_tenth_of_a_second_while_training(tmp_path: Path) -> None:
    """p reaches the engine (Control flipped) fast while it trains at full speed, and the loop
    itself then pauses (its Paused event reaches the screen) and its clock stands still.

    The loop pauses at its next step boundary: a press during validation waits for the next
    epoch's first step, so that part has a looser bound.
    """

    async def scenario() -> None:
        app = TrainerApp(
            "quickstart",
            OVERRIDES,
            start=True,
            out=str(tmp_path / "runs"),
            presets=quickstart(),
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            runner = run_screen(app)
            model = runner.model
            await wait_for(pilot, lambda: len(model.curves.train) > 0, timeout=30)
            latencies, baselines = [], []
            for i in range(6):
                want_paused = i % 2 == 0
                # The app's own message round trip just before, on the same loop: what any
                # message costs on this machine right now (a busy one makes it long).
                handled: list[float] = []
                start = time.perf_counter()
                app.call_later(lambda box=handled: box.append(time.perf_counter()))
                while not handled:
                    await asyncio.sleep(0.001)
                baselines.append(handled[0] - start)
                start = time.perf_counter()
                app.post_message(events.Key("p", "p"))
                while runner.control.paused is not want_paused:
                    await asyncio.sleep(0.001)
                latencies.append(time.perf_counter() - start)
                # The loop answers: Paused / Resumed come back from the training thread.
                await wait_for(pilot, lambda want=want_paused: model.paused is want, timeout=10)
                if want_paused:
                    elapsed = model.progress.elapsed
                    await asyncio.sleep(0.3)
                    assert model.progress.elapsed == elapsed  # the clock stops while paused
                await asyncio.sleep(0.05)
            runner.stop_for_exit()
            await wait_for(pilot, lambda: not app.is_running, timeout=30)
        # Within a tenth of a second. On a machine too busy for that, within ten of the app's
        # own message round trips measured just before (a key press takes several hops: app,
        # screen, bindings, action; each waits for the GIL while training runs): still far
        # less than waiting for the training thread would take.
        over = [lat - max(0.1, 10 * base) for lat, base in zip(latencies, baselines, strict=True)]
        assert statistics.median(over) < 0, (latencies, baselines)

    run(scenario())


@pytest.mark.slow
def test_hang_up_with_on_hangup_stop_checkpoints_and_exits(tmp_path: Path) -> None:
    """`on_hangup: stop`: the terminal hangs up: checkpoint, summary, exit 128+1."""
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "tui_trainer", "quickstart", *OVERRIDES, "on_hangup=stop"]
    argv += ["--start", "--out", str(out)]
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        os.environ.update(COLUMNS="100", LINES="30", TERM="xterm-256color")
        os.execv(sys.executable, argv)

    def drain() -> None:  # read what the app draws, as a terminal would
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 60
    while not list(out.glob("quickstart/*/metrics.jsonl")):
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    time.sleep(0.5)  # training
    os.close(master)  # hang up
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 129
    run_dir = only_run_dir(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert (run_dir / "checkpoints" / "last.pt").is_file()


@pytest.mark.slow
def test_resume_a_stopped_run_from_the_console(tmp_path: Path) -> None:
    """`tui-trainer --resume RUN_DIR` continues the same run directory to the end."""
    from tui_trainer.config import load_config
    from tui_trainer.runlog.control import StopMode
    from tui_trainer.runlog.events import StepProgress

    out = tmp_path / "runs"
    config, name = load_config(
        "quickstart", ["epochs=3", "device=cpu", "progress.interval=1e-9", f"out={out}"]
    )
    control = Control()

    def stop_in_epoch_two(event: object) -> None:
        if isinstance(event, StepProgress) and event.epoch == 2 and event.step >= 10:
            control.request_stop(StopMode.STEP)

    assert execute(config, name, sinks=[stop_in_epoch_two], control=control).status == "stopped"
    run_dir = only_run_dir(out)

    async def scenario() -> None:
        app = TrainerApp(resume=str(run_dir), presets=quickstart(), exit_when_done=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            runner = run_screen(app)
            await wait_for(pilot, lambda: runner.model.finished is not None, timeout=60)
            assert "resumed from" in runner.query_one("RunLog").plain_text
        assert app.return_code == 0

    run(scenario())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    assert only_run_dir(out) == run_dir  # continued in place
