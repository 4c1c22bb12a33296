"""Runs that outlive their terminal, end to end: real runs in other processes, real sockets.

detach → watch (Pilot) → pause/resume/checkpoint from the watcher and from `ctl` → the watcher
leaves, the run goes on → a second watcher sees the whole history and stops it; SIGKILL shows
as `died`; a console or headless run whose terminal hangs up keeps training; a 2-process gloo
run is paused and stopped from `ctl`; hostile clients leave a run healthy.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.pilot import NoGpuPanel
from support.runs import epoch_lines

from tui_trainer.remote import endpoint
from tui_trainer.runlog.reader import read_records
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.summary import SummaryScreen

ROOT = Path(__file__).resolve().parents[2]
LONG = ["epochs=300", "device=cpu", "progress.interval=0.05", "progress.plain_interval=0.5"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=timeout,
    )


def detach(out: Path, *overrides: str, nproc: int | None = None) -> tuple[Path, int]:
    """`run quickstart ... --detach`: the run directory and the run's pid."""
    extra = ["--nproc", str(nproc)] if nproc else []
    done = cli("run", "quickstart", *overrides, "--out", str(out), *extra, "--detach")
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines())
    run_dir = Path(lines["run directory"].strip())
    assert lines["watch"].strip() == f"tui-trainer watch {run_dir}"
    return run_dir, int(lines["pid"].split()[0])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until(check: Callable[[], bool], timeout: float = 180.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.1)


def status(run_dir: Path) -> dict:
    from tui_trainer.remote.client import request

    return request(run_dir, "status", timeout=30.0)  # generous: CI machines can be busy


def events(run_dir: Path, kind: str) -> list[dict]:
    return [r for r in read_records(run_dir) if r["event"] == kind]


async def until(pilot, check: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the watcher"
        await pilot.pause(0.05)


def watcher(run_dir: Path) -> TrainerApp:
    return TrainerApp(watch=str(run_dir), gpu_panel=NoGpuPanel)


def screen_of(app: TrainerApp) -> RunScreen:
    return next(s for s in app.screen_stack if isinstance(s, RunScreen))


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_detach_with_bad_input_exits_2_with_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    schema = cli("run", "quickstart", "epochs=0", "--out", str(out), "--detach")
    assert schema.returncode == 2 and "epochs" in schema.stderr
    engine = cli("run", "quickstart", "data.batch_size=100000", "--out", str(out), "--detach")
    assert engine.returncode == 2, engine.stderr
    assert "tui-trainer: error: data.batch_size" in engine.stderr
    assert not out.exists()


@pytest.mark.slow
def test_detach_watch_control_leave_and_watch_again(tmp_path: Path) -> None:
    run_dir, pid = detach(tmp_path / "runs", *LONG)
    assert (run_dir / "output.log").is_file()
    assert alive(pid) and status(run_dir)["pid"] == pid

    async def first() -> None:
        app = watcher(run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = screen_of(app)
            await until(pilot, lambda: screen.model.progress.step > 0)
            await pilot.press("p")  # from the watcher
            await until(pilot, lambda: screen.model.paused)
            assert status(run_dir)["state"] == "paused"
            await pilot.press("p")
            await until(pilot, lambda: not screen.model.paused)
            await pilot.press("c")
            await until(
                pilot,
                lambda: (
                    events(run_dir, "checkpoint")[-1:] != []
                    and any(r["reason"] == "request" for r in events(run_dir, "checkpoint"))
                ),
            )
            assert cli("ctl", str(run_dir), "pause").returncode == 0  # from elsewhere
            await until(pilot, lambda: screen.model.paused)  # the watcher sees it
            assert screen.model.state == "paused"
            assert cli("ctl", str(run_dir), "resume").returncode == 0
            await until(pilot, lambda: not screen.model.paused)
            done = cli("ctl", str(run_dir), "checkpoint")
            assert done.returncode == 0 and "checkpoint: ok" in done.stdout
            await until(pilot, lambda: len(screen.model.rows) >= 1)
            await pilot.press("q")  # leaves at once: nothing is lost
            await until(pilot, lambda: not app.is_running, 10)
        assert app.return_code == 0

    asyncio.run(first())

    def requested() -> list[dict]:
        return [r for r in events(run_dir, "checkpoint") if r["reason"] == "request"]

    # `ctl checkpoint` answers when the run has the request; the file follows at its next step
    # (on a loaded machine after the watcher has left)
    wait_until(lambda: len(requested()) >= 2, what="the second requested checkpoint")
    assert len(requested()) == 2
    step = status(run_dir)["global_step"]
    wait_until(lambda: status(run_dir)["global_step"] > step, what="the run goes on")

    async def second() -> None:
        app = watcher(run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = screen_of(app)
            await until(pilot, lambda: screen.model.started)
            done = len(epoch_lines(run_dir))
            await until(pilot, lambda: len(screen.model.rows) >= done)
            rows = [r.epoch for r in screen.model.rows]
            assert rows[: len(rows)] == list(range(1, len(rows) + 1))  # the whole history
            assert len(screen.model.curves.train) > 0 and screen.model.lr is not None
            await pilot.press("s")  # stop after this epoch, from the watcher
            await until(pilot, lambda: screen.model.finished is not None)
            await until(pilot, lambda: isinstance(app.screen, SummaryScreen), 10)
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(second())
    summary = summary_of(run_dir)
    assert summary["status"] == "stopped"
    wait_until(lambda: not alive(pid), 30, "the run's process exits")
    assert not (run_dir / endpoint.POINTER).exists()


@pytest.mark.slow
def test_a_run_killed_with_sigkill_shows_as_died(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    run_dir, pid = detach(out, *LONG)
    pointer = endpoint.read_pointer(run_dir)
    assert pointer is not None and pointer.pid == pid
    listed = json.loads(cli("runs", str(out), "--json").stdout)
    assert [(r["status"], r["live"]) for r in listed] == [("running", True)]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), 30, "killed")
    listed = json.loads(cli("runs", str(out), "--json").stdout)
    assert [(r["status"], r["live"]) for r in listed] == [("died", False)]
    assert not (run_dir / endpoint.POINTER).exists()  # the stale endpoint is cleaned up
    assert not Path(pointer.socket).exists()
    table = cli("runs", str(out)).stdout
    assert "died" in table and str(run_dir) in table
    gone = cli("ctl", str(run_dir), "pause")
    assert gone.returncode == 2 and "no live run" in gone.stderr

    async def look() -> None:
        app = watcher(run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = screen_of(app)
            await until(pilot, lambda: screen.model.finished is not None)
            assert screen.model.state == "died"

    asyncio.run(look())


def _pty_run(argv: list[str], ready: Callable[[], bool]) -> tuple[int, int]:
    """Start `argv` on a new pty (its controlling terminal); returns (pid, master fd)."""
    pid, master = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.environ.update(COLUMNS="100", LINES="30", TERM="xterm-256color")
        os.execv(sys.executable, argv)

    def drain() -> None:  # read what it draws, as a terminal would
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    wait_until(ready, 300, "the run started")
    return pid, master


@pytest.mark.slow
@pytest.mark.parametrize("front", ["console", "headless", "nproc"])
def test_a_hang_up_keeps_training_and_watch_reattaches(tmp_path: Path, front: str) -> None:
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "tui_trainer"]
    argv += ["quickstart", "--start"] if front == "console" else ["run", "quickstart"]
    argv += ["--nproc", "2"] if front == "nproc" else []
    argv += [*LONG, "--out", str(out)]

    def started() -> bool:
        found = list(out.glob("quickstart/*/.endpoint"))
        return bool(found) and bool(events(found[0].parent, "step"))

    pid, master = _pty_run(argv, started)
    run_dir = next(out.glob("quickstart/*"))
    os.close(master)  # the terminal goes away: SIGHUP
    time.sleep(1.0)
    done, _ = os.waitpid(pid, os.WNOHANG)
    assert done == 0, "the run stopped on hang-up"
    step = status(run_dir)["global_step"]
    wait_until(lambda: status(run_dir)["global_step"] > step, what="training goes on")

    async def reattach() -> None:
        app = watcher(run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = screen_of(app)
            await until(pilot, lambda: screen.model.progress.step > 0)
            await pilot.press("s", "s")  # stop now (with a checkpoint)
            await until(pilot, lambda: screen.model.finished is not None)
            await pilot.press("q")

    asyncio.run(reattach())
    _, code = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(code) == 0
    assert summary_of(run_dir)["status"] == "stopped"
    assert (run_dir / "checkpoints" / "last.pt").is_file()


@pytest.mark.slow
def test_two_process_gloo_run_paused_and_stopped_from_ctl(tmp_path: Path) -> None:
    run_dir, pid = detach(tmp_path / "runs", *LONG, "control_every=2", nproc=2)
    started = events(run_dir, "started")[0]
    assert started["world_size"] == 2
    wait_until(lambda: events(run_dir, "step"), 300, "training")
    assert cli("ctl", str(run_dir), "pause").returncode == 0
    wait_until(lambda: status(run_dir)["state"] == "paused", 60, "paused")
    paused = events(run_dir, "paused")[-1]
    step = status(run_dir)["global_step"]
    time.sleep(1.5)
    assert status(run_dir)["global_step"] == step  # every rank waits (rank 1 would hang else)
    assert cli("ctl", str(run_dir), "resume").returncode == 0
    wait_until(lambda: status(run_dir)["global_step"] > step, 60, "resumed")
    done = cli("ctl", str(run_dir), "stop", "--now")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: (run_dir / "summary.json").exists(), 90, "stopped")
    summary = summary_of(run_dir)
    assert summary["status"] == "stopped"
    assert paused["epoch"] >= 1
    log = (run_dir / "output.log").read_text()
    assert "failed" not in log
    wait_until(lambda: not alive(pid), 60, "all processes exit")


@pytest.mark.slow
def test_hostile_clients_leave_a_run_healthy(tmp_path: Path) -> None:
    run_dir, pid = detach(tmp_path / "runs", "epochs=4", "device=cpu", "progress.interval=0.01")
    path = endpoint.read_pointer(run_dir).socket

    def conn() -> socket.socket:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        return s

    idle = [conn() for _ in range(50)]
    stuck = conn()
    stuck.sendall(b'{"cmd": "subscribe"}\n')  # and never reads
    rng = random.Random(1)
    for _ in range(10):
        s = conn()
        s.sendall(bytes(rng.randrange(256) for _ in range(2000)))
        s.close()
    huge = conn()
    with pytest.raises(OSError):
        huge.sendall(b"y" * (10 << 20))  # dropped after the first few kilobytes
    assert status(run_dir)["ok"]
    wait_until(lambda: (run_dir / "summary.json").exists(), 400, "the run finishes")
    summary = summary_of(run_dir)
    assert summary["status"] == "completed" and summary["epochs_completed"] == 4
    assert len(epoch_lines(run_dir)) == 4
    for s in [*idle, stuck, huge]:
        s.close()
    wait_until(lambda: not alive(pid), 30, "exit")


@pytest.mark.slow
def test_console_starts_in_the_background_then_watches(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    overrides = [*LONG, f"out={out}"]

    async def scenario() -> None:
        app = TrainerApp("quickstart", overrides, gpu_panel=NoGpuPanel, out=str(out))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("ctrl+b")
            await until(pilot, lambda: any(isinstance(s, RunScreen) for s in app.screen_stack))
            screen = screen_of(app)
            assert screen.source.remote
            await until(pilot, lambda: screen.model.progress.step > 0)
            await pilot.press("q")  # leaves; the run goes on in its own session
            await until(pilot, lambda: not app.is_running, 10)

    asyncio.run(scenario())
    run_dir = next(out.glob("quickstart/*"))
    assert status(run_dir)["state"] in ("running", "pausing", "paused")
    assert (run_dir / "output.log").is_file()
    assert cli("ctl", str(run_dir), "stop", "--now").returncode == 0
    wait_until(lambda: (run_dir / "summary.json").exists(), what="stopped")
    assert summary_of(run_dir)["status"] == "stopped"
