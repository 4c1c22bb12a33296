"""The console's Queue view (f4 from setup): jobs shown, keys change the queue database."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.pilot import NoGpuPanel, demo_presets, run, screen_text, wait_for, wait_for_text
from support.runsdirs import make_run
from support.scripted import ScriptedExecutor
from textual.widgets import DataTable

from tui_trainer.queue.store import QueueStore, default_path
from tui_trainer.remote.client import request
from tui_trainer.remote.endpoint import NotLive
from tui_trainer.remote.server import RunServer
from tui_trainer.rundir import RunDirLock
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.sinks.files import RunDirWriter, write_config
from tui_trainer.tui import queue_view as qv
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.queue import ConfirmRemove, QueueScreen
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.run_actions import WatchRun
from tui_trainer.tui.screens.run_detail import RunDetailScreen
from tui_trainer.tui.screens.setup import SetupScreen


@pytest.fixture(autouse=True)
def _cwd(private_runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket directory of the test's own; cwd in tmp (the queue database is under the
    test's own XDG_STATE_HOME: tests/conftest.py)."""
    monkeypatch.chdir(tmp_path)


def make_app(tmp_path: Path) -> TrainerApp:
    return TrainerApp(
        executor=ScriptedExecutor(), presets=demo_presets(tmp_path), gpu_panel=NoGpuPanel
    )


def fill(tmp_path: Path) -> tuple[QueueStore, dict[str, int]]:
    """Five jobs: `done` (its run written, 3 epochs), `running` on GPU 1 (no run files yet),
    `failed` (exit 1), and two waiting: `first`, `second`."""
    store = QueueStore(default_path())
    runs = tmp_path / "runs"
    ids = {}
    done = store.add("quickstart", ["optim.lr=0.1"], out=str(runs), gpus=1)
    run_dir = make_run(runs, "quickstart", "20261130-100000", epochs=3)
    store.claim(done.id, run_dir=str(run_dir), gpu_ids=[0])
    store.finish(done.id, "done", exit_code=0)
    ids["done"] = done.id
    running = store.add("quickstart", ["optim.lr=0.01"], out=str(runs), gpus=1, sweep="lr")
    store.claim(running.id, run_dir=str(runs / "quickstart" / "20261130-110000"), gpu_ids=[1])
    ids["running"] = running.id
    failed = store.add("quickstart", ["optim.lr=10"], out=str(runs))
    store.claim(failed.id, run_dir=str(runs / "quickstart" / "20261130-120000"), gpu_ids=[])
    store.finish(failed.id, "failed", exit_code=1, error="loss is nan")
    ids["failed"] = failed.id
    ids["first"] = store.add("quickstart", ["data.batch_size=64"], out=str(runs)).id
    ids["second"] = store.add("quickstart", ["data.batch_size=128"], out=str(runs), gpus=2).id
    return store, ids


async def open_queue(pilot) -> QueueScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SetupScreen))
    await pilot.press("f4")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, QueueScreen))
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.listing is not None)
    return screen


async def cursor_to(pilot, screen: QueueScreen, job_id: int) -> None:
    rows = screen.listing.rows
    screen.query_one("#queue-table", DataTable).move_cursor(
        row=[r.job.id for r in rows].index(job_id)
    )
    await pilot.pause()


def state(store: QueueStore, job_id: int) -> str:
    return store.get(job_id).state


def waiting(store: QueueStore) -> list[int]:
    return [j.id for j in store.jobs(["queued", "held"])]


def test_jobs_shown_and_keys_change_the_queue(tmp_path: Path) -> None:
    store, ids = fill(tmp_path)

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_queue(pilot)
            text = await wait_for_text(pilot, "5 jobs · 1 running · 2 queued · 1 failed")
            assert "quickstart optim.lr=0.1" in text and "3/3" in text  # the done run read
            assert "failed" in text and "×2" in text  # a 2-GPU job waiting
            assert "quickstart/20261130-100000" in text  # run column (wide)
            await cursor_to(pilot, screen, ids["failed"])
            await pilot.press("t")
            await wait_for(pilot, lambda: state(store, ids["failed"]) == "queued")
            assert store.get(ids["failed"]).run_dir is None  # a fresh run directory

            # queued again, last of the waiting jobs (before the ended ones): the row moves,
            # and the cursor stays on its job
            def last_waiting() -> int:
                shown = [i for i in shown_ids(screen) if state(store, i) in ("queued", "held")]
                return shown[-1] if shown else -1

            await wait_for(pilot, lambda: last_waiting() == ids["failed"])
            ended = [i for i in shown_ids(screen) if state(store, i) in ("done", "failed")]
            assert shown_ids(screen)[-len(ended) :] == ended  # ended jobs below the waiting ones
            await pilot.pause()
            assert screen.current_job().id == ids["failed"]
            await cursor_to(pilot, screen, ids["first"])
            await pilot.press("h")
            await wait_for(pilot, lambda: state(store, ids["first"]) == "held")
            await wait_for_text(pilot, "1 held")
            await pilot.press("r")
            await wait_for(pilot, lambda: state(store, ids["first"]) == "queued")
            await pilot.press("r")  # released already: refused in one line, nothing changed
            await wait_for(pilot, lambda: any("release refused" in n.message for n in notes(app)))
            await pilot.press("J")  # first moves below second
            await wait_for(
                pilot, lambda: waiting(store) == [ids["second"], ids["first"], ids["failed"]]
            )
            await wait_for(pilot, lambda: screen.current_job().id == ids["first"])  # followed
            await pilot.press("ctrl+up")
            await wait_for(
                pilot, lambda: waiting(store) == [ids["first"], ids["second"], ids["failed"]]
            )
            await cursor_to(pilot, screen, ids["second"])
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmRemove))
            await pilot.press("n")  # kept
            await wait_for(pilot, lambda: app.screen is screen)
            assert state(store, ids["second"]) == "queued"
            await pilot.press("delete")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmRemove))
            await pilot.press("y")
            await wait_for(pilot, lambda: state(store, ids["second"]) == "removed")
            await wait_for(pilot, lambda: ids["second"] not in shown_ids(screen))
            await cursor_to(pilot, screen, ids["running"])
            await pilot.press("d")  # a running job: refused at once, not asked
            await wait_for(pilot, lambda: any("is running" in n.message for n in notes(app)))
            assert not isinstance(app.screen, ConfirmRemove)
            assert state(store, ids["running"]) == "running"
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))

    run(scenario())


def notes(app: TrainerApp) -> list:
    return list(app._notifications)


def shown_ids(screen: QueueScreen) -> list[int]:
    return [r.job.id for r in screen.listing.rows] if screen.listing else []


def test_changes_made_elsewhere_show_within_seconds(tmp_path: Path) -> None:
    store, ids = fill(tmp_path)

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await open_queue(pilot)
            await wait_for_text(pilot, "2 queued")
            store.hold(ids["second"])  # `tui-trainer queue hold` in another shell
            await wait_for_text(pilot, "1 queued · 1 held", timeout=5)

    run(scenario())


@contextlib.contextmanager
def live_run(run_dir: Path) -> Iterator[Control]:
    """A run training in `run_dir` (the fake engine in a thread, held at epoch 2, serving its
    control socket, holding the directory's lock) as a job's process would."""
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
        while not (run_dir / "metrics.jsonl").exists() or not answers(run_dir):
            assert time.monotonic() < deadline, "the scripted run never served its socket"
            time.sleep(0.05)
        yield control
    finally:
        live.release()
        thread.join(10)
        lock.release()


def answers(run_dir: Path) -> bool:
    try:
        reply = request(run_dir, "status", timeout=1.0)
    except NotLive:
        return False
    return bool(reply and reply.get("ok"))


def test_watch_opens_the_run(tmp_path: Path) -> None:
    """A running job shows its live run's state and epochs; enter attaches the run screen (as
    the runs browser does) and q leaves it, back to the queue; on an ended job enter opens the
    run's detail; on a waiting one w says it has not started."""
    store, ids = fill(tmp_path)
    posted: list[WatchRun] = []

    def hook(message) -> None:
        if isinstance(message, WatchRun):
            posted.append(message)

    async def scenario(control: Control) -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
            screen = await open_queue(pilot)
            await wait_for_text(pilot, "● running")
            await cursor_to(pilot, screen, ids["running"])
            await wait_for(pilot, lambda: qv.progress_text(screen.current()) == "1/3")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            assert {m.run_dir for m in posted} == {store.get(ids["running"]).run_dir}
            runner = app.screen
            assert str(runner.source.run_dir) == posted[0].run_dir
            await wait_for(pilot, lambda: runner.model.progress.epoch == 2)
            await pilot.press("q")  # leaves the watched run (it goes on): back to the queue
            await wait_for(pilot, lambda: app.screen is screen)
            assert control.stop_mode == StopMode.NONE
            await cursor_to(pilot, screen, ids["first"])
            await pilot.press("w")
            await wait_for(pilot, lambda: any("not started" in n.message for n in notes(app)))
            await cursor_to(pilot, screen, ids["done"])
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen)

    with live_run(Path(store.get(ids["running"]).run_dir or "")) as control:
        run(scenario(control))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_fits_the_terminal(tmp_path: Path, size: tuple[int, int]) -> None:
    """Every column of every job, the keys in the footer, nothing cut off at 80x24."""
    _, ids = fill(tmp_path)

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=size) as pilot:
            await open_queue(pilot)
            text = await wait_for_text(pilot, "5 jobs", "Sweep")  # the footer: composed after
            lines = text.splitlines()
            assert len(lines) == size[1] and all(len(line) <= size[0] for line in lines)
            for job_id in ids.values():
                assert any(line.split()[:1] == [str(job_id)] for line in lines)
            table = "\n".join(lines[3:9])
            for cell in ("running", "done", "3/3", "val acc", "×2", "cpu"):
                assert cell in table, cell
            assert "quickstart data.batch_size=128" in table  # the job column is not cut
            footer = lines[-1]
            for key in ("Watch", "Hold", "Release", "Remove", "Retry", "Up", "Down", "Sweep"):
                assert key in footer, (key, footer)
            assert ("quickstart/20261130-100000" in table) == (size[0] >= 100)

    run(scenario())


def test_empty_queue_says_how_to_add(tmp_path: Path) -> None:
    """No queue database yet: the view says how to queue a run and creates nothing."""

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_queue(pilot)
            text = await wait_for_text(pilot, "The queue is empty")
            assert "tui-trainer queue add PRESET" in text
            await pilot.press("h", "t", "d", "J", "enter")  # nothing to act on: no error
            await pilot.pause(0.1)
            assert isinstance(app.screen, QueueScreen)
            assert "tui-trainer sweep PRESET" in screen_text(app)

    run(scenario())
    assert not default_path().exists()


def test_damaged_database_is_one_line_and_untouched(tmp_path: Path) -> None:
    path = default_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database, " * 100)
    before = path.read_bytes()

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await open_queue(pilot)
            text = await wait_for_text(pilot, "not a queue database")
            assert "Move it aside" in text

    run(scenario())
    assert path.read_bytes() == before
