"""The runs browser (f3 from setup): list, live marker, sort, filter, open, compare, actions."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from support.pilot import NoGpuPanel, demo_presets, run, wait_for, wait_for_text
from support.runsdirs import T0, damage, fix_times, make_run
from support.scripted import ScriptedExecutor
from textual.widgets import DataTable, Static
from textual_plot.plot_widget import LinePlot

from tui_trainer.remote.client import request
from tui_trainer.remote.detach import Detached
from tui_trainer.remote.endpoint import NotLive
from tui_trainer.remote.server import RunServer
from tui_trainer.rundir import RunDirLock
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.sinks.files import RunDirWriter, write_config
from tui_trainer.tui import runs_view as rv
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.compare import CompareScreen, OverlayPlot
from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.run_actions import ConfirmLaunch
from tui_trainer.tui.screens.run_detail import RunDetailScreen
from tui_trainer.tui.screens.runs import RunsScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.sources import RemoteRun
from tui_trainer.tui.widgets.plots import LossPlot, MetricPlot

A, B, C, D = (
    "quickstart/20261130-100000",
    "quickstart/20261130-110000",
    "cifar10-small-cnn/20261130-120000",
    "quickstart/20261130-130000",
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four runs: A (3 epochs), B (4 epochs, other LR and schedule), C (6 epochs, another
    preset), D (2 epochs, killed: no summary, a corrupt line); started in that order."""
    folder = tmp_path_factory.mktemp("browser") / "runs"
    make_run(folder, "quickstart", "20261130-100000", epochs=3)
    make_run(
        folder,
        "quickstart",
        "20261130-110000",
        epochs=4,
        optim={"name": "sgd", "lr": 0.01, "momentum": 0.9},
        scheduler={"name": "step", "step_size": 2},
    )
    make_run(folder, "cifar10-small-cnn", "20261130-120000", epochs=6)
    make_run(folder, "quickstart", "20261130-130000", epochs=2)
    for i, name in enumerate((A, B, C, D)):
        fix_times(folder / name, T0 + 3600 * i)
    damage(folder / D)
    return folder


@pytest.fixture(autouse=True)
def _own_socket_dir_and_cwd(private_runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A socket directory of the test's own (tests/conftest.py), cwd in tmp."""
    monkeypatch.chdir(tmp_path)


def make_app(tmp_path: Path, out: Path, script: ScriptedExecutor | None = None) -> TrainerApp:
    presets = demo_presets(tmp_path)
    return TrainerApp(
        executor=script or ScriptedExecutor(), presets=presets, gpu_panel=NoGpuPanel, out=str(out)
    )


async def open_browser(pilot) -> RunsScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SetupScreen))
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.listing is not None)
    return screen


def notes(app: TrainerApp) -> str:
    """The notifications (toasts) shown so far."""
    return "\n".join(n.message for n in app._notifications)


async def wait_for_note(pilot, text: str, timeout: float = 10.0) -> str:
    await wait_for(pilot, lambda: text in notes(pilot.app), timeout)
    return notes(pilot.app)


def names(screen: RunsScreen) -> list[str]:
    return [rv.run_name(i) for i in screen.shown]


async def cursor_to(pilot, screen: RunsScreen, name: str) -> None:
    table = screen.query_one("#runs-table", DataTable)
    table.move_cursor(row=names(screen).index(name))
    await pilot.pause()


def test_lists_sorts_and_filters_runs(tmp_path: Path, root: Path) -> None:
    async def scenario() -> None:
        app = make_app(tmp_path, root)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_browser(pilot)
            assert names(screen) == [D, C, B, A]  # newest first
            text = await wait_for_text(pilot, "4 runs · s sort: newest")
            assert "died" in text and "val acc 94.76% @5" in text and "3/4" not in text
            await pilot.press("s")  # best metric first; the killed run's best is from its tail
            assert names(screen) == [C, B, A, D]
            await wait_for_text(pilot, "s sort: best metric")
            await pilot.press("slash", *"cifar")
            assert names(screen) == [C]
            await wait_for_text(pilot, "1/4 runs")
            await pilot.press("backspace", *"ar", "space", *"quick")  # "cif ar quick": nothing
            await wait_for_text(pilot, "No run matches")
            await pilot.press("escape")  # clears the filter
            assert len(names(screen)) == 4
            await pilot.press("escape", "escape")  # leave the filter, then the browser
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))

    run(scenario())


def test_open_shows_curves_summary_report_and_config(tmp_path: Path, root: Path) -> None:
    async def scenario() -> None:
        app = make_app(tmp_path, root)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_browser(pilot)
            await cursor_to(pilot, screen, B)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
            detail = app.screen
            await wait_for(pilot, lambda: detail.opened is not None)
            await pilot.pause(0.1)
            loss = detail.query_one(LossPlot)
            assert len([d for d in loss._datasets if isinstance(d, LinePlot)]) == 3
            assert loss._x_max == 4.0
            metric = detail.query_one(MetricPlot)
            assert any(isinstance(d, LinePlot) for d in metric._datasets)
            seen = ("FINISHED", "best val_accuracy", "93.26% @ 3", "4/4", "Config", "precision")
            await wait_for_text(pilot, *seen, "Per-class report")
            config = str(detail.query_one("#detail-config", Static).content)
            assert "lr: 0.01" in config and "step_size: 2" in config  # scrolled below
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen)
            await cursor_to(pilot, screen, D)  # killed: no summary, a corrupt line
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
            detail = app.screen
            await wait_for(pilot, lambda: detail.opened is not None)
            assert "is not JSON" in (detail.opened.warning or "")
            assert detail.opened.curves.metric  # what could be read is shown
            text = await wait_for_text(pilot, "DIED", "damaged lines skipped")
            assert "Per-class report" not in text  # no finished line, so no report

    run(scenario())


def test_marking_two_runs_compares_them(tmp_path: Path, root: Path) -> None:
    async def scenario() -> None:
        app = make_app(tmp_path, root)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_browser(pilot)
            await pilot.press("c")
            await wait_for_note(pilot, "Mark two or more")
            await cursor_to(pilot, screen, B)
            await pilot.press("space", "space")  # B, then A below it
            assert screen.marked == {str(root / B), str(root / A)}
            await wait_for_text(pilot, "2 marked")
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            compare = app.screen
            await wait_for(pilot, lambda: len(compare.query(OverlayPlot)) == 4)
            await wait_for_text(pilot, f"━━ {B}", f"━━ {A}")
            diff = compare.query_one("#compare-diff", DataTable)
            keys = [str(diff.get_row_at(i)[0]) for i in range(diff.row_count)]
            assert keys == ["epochs", "optim.lr", "scheduler.name", "scheduler.step_size"]
            train = compare.query_one("#compare-train", OverlayPlot)
            assert len([d for d in train._datasets if isinstance(d, LinePlot)]) == 2
            await pilot.press("q")  # back to the list, marks kept
            await wait_for(pilot, lambda: app.screen is screen)
            assert len(screen.marked) == 2

    run(scenario())


def test_actions_launch_what_the_cli_would(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []

    def fake_spawn(argv: list[str]) -> Detached:  # the process boundary: record, start nothing
        started.append(argv)
        return Detached(None, 0, 2, "fake: not started\n")

    monkeypatch.setattr("tui_trainer.tui.app.spawn_detached", fake_spawn)
    script = ScriptedExecutor(epochs=3, steps=4)

    async def scenario() -> None:
        app = make_app(tmp_path, root, script)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_browser(pilot)
            await cursor_to(pilot, screen, A)
            await pilot.press("R", "n")  # replay in the background? no: nothing starts
            await pilot.pause(0.2)
            assert not started and isinstance(app.screen, RunsScreen)
            await pilot.press("R")  # replay in the background: asks first
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmLaunch))
            await wait_for_text(pilot, "tui-trainer replay")
            await pilot.press("y")
            await wait_for(pilot, lambda: len(started) == 1)
            assert started[0] == ["replay", str(root / A), "--out", str(root)]
            await pilot.press("U", "y")  # resume in the background
            await wait_for(pilot, lambda: len(started) == 2)
            assert started[1] == ["run", "--resume", str(root / A)]
            await pilot.press("u", "y")  # resume here: a scripted run left no checkpoint
            text = await wait_for_note(pilot, "resume refused", timeout=120)  # imports torch
            assert "checkpoint" in text
            assert not any(isinstance(s, RunScreen) for s in app.screen_stack)
            await pilot.press("r", "y")  # replay here: the saved config, a new run in the console
            await wait_for(pilot, lambda: any(isinstance(s, RunScreen) for s in app.screen_stack))
            runner = next(s for s in app.screen_stack if isinstance(s, RunScreen))
            assert runner.request.resume is None and runner.request.out == str(root)
            assert runner.request.config.epochs == 3 and runner.request.config.optim.lr == 0.05
            await wait_for(pilot, lambda: script.calls == 1 and not runner.model.active)

    run(scenario())


def live_status(run_dir: Path) -> bool:
    try:
        reply = request(run_dir, "status", timeout=1.0)
    except NotLive:
        return False
    return bool(reply and reply.get("ok"))


def test_live_run_is_marked_attached_and_never_resumed(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    run_dir = out / "quickstart" / "20261201-090000"
    run_dir.mkdir(parents=True)
    write_config(run_dir, {"epochs": 3, "data": {"batch_size": 32}}, "quickstart")
    lock = RunDirLock.acquire(run_dir)  # as the writing process holds it
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

        async def scenario() -> None:
            app = make_app(tmp_path, out)
            async with app.run_test(size=(120, 40)) as pilot:
                screen = await open_browser(pilot)
                assert [i.live for i in screen.shown] == [True]
                await wait_for_text(pilot, "● running", "1 live")
                await pilot.press("u", "y")  # resuming a live run: the lock's refusal
                text = await wait_for_note(pilot, "being written by")
                assert f"pid {os.getpid()}" in text
                await pilot.press("enter")  # a live run is attached, as `watch` does
                await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
                runner = app.screen
                assert isinstance(runner.source, RemoteRun)
                await wait_for(pilot, lambda: runner.model.progress.epoch == 2)
                await pilot.press("q")  # leaves the run (it goes on), back to the list
                await wait_for(pilot, lambda: app.screen is screen)
                assert thread.is_alive() and control.stop_mode == StopMode.NONE

        run(scenario())
    finally:
        live.release()
        thread.join(10)
        lock.release()


def test_empty_and_missing_roots_say_so(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(tmp_path, tmp_path / "nothing-here")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_browser(pilot)
            assert "No runs yet" in await wait_for_text(pilot, "does not exist")

    run(scenario())


class CountingFile:
    """A file object that counts the bytes read through it."""

    def __init__(self, handle, counts: list[int]) -> None:
        self.handle, self.counts = handle, counts

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.counts.append(len(data))
        return data

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


def test_listing_reads_only_the_ends_of_long_histories(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of runs list quickly: a long metrics.jsonl is read at its head and tail only."""
    source, long = root / C, tmp_path / "runs" / "quickstart" / "20261201-000000"
    long.mkdir(parents=True)
    for name in ("config.yaml", "summary.json"):
        shutil.copy(source / name, long / name)
    lines = (source / "metrics.jsonl").read_text().splitlines(keepends=True)
    steps = [ln for ln in lines if '"event": "step"' in ln]
    (long / "metrics.jsonl").write_text("".join(lines[:3] + steps * 2000 + lines[3:]))
    assert (long / "metrics.jsonl").stat().st_size > 5_000_000
    counts: list[int] = []
    real_open, real_text, real_bytes = Path.open, Path.read_text, Path.read_bytes

    def opened(self: Path, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)
        return CountingFile(handle, counts) if self.name == "metrics.jsonl" else handle

    def refuse(real):
        def read(self: Path, *args, **kwargs):
            assert self.name != "metrics.jsonl", "metrics.jsonl read in full"
            return real(self, *args, **kwargs)

        return read

    monkeypatch.setattr(Path, "open", opened)
    monkeypatch.setattr(Path, "read_text", refuse(real_text))
    monkeypatch.setattr(Path, "read_bytes", refuse(real_bytes))
    cache: rv.Cache = {}
    (info,) = rv.scan(tmp_path / "runs", cache).runs
    assert info.best_value == pytest.approx(0.9476) and info.epoch == 6 and info.started
    assert 0 < sum(counts) <= 100_000
    counts.clear()  # the refresh a few seconds later: a finished, unchanged run is not re-read
    assert rv.scan(tmp_path / "runs", cache).runs == [info] and sum(counts) == 0
    with open(long / "metrics.jsonl", "a") as fh:  # ... until its files change
        fh.write(lines[-2])
    assert rv.scan(tmp_path / "runs", cache).runs and sum(counts) > 0


@pytest.mark.slow
def test_resume_here_continues_a_real_run_in_its_directory(tmp_path: Path) -> None:
    """A tiny real run left checkpoints: `u` starts the console's run screen resuming it."""
    from support.runs import run_preset

    finished, run_dir = run_preset(tmp_path / "runs")
    assert finished.status == "completed"
    script = ScriptedExecutor(epochs=2, steps=4)

    async def scenario() -> None:
        app = make_app(tmp_path, tmp_path / "runs", script)
        async with app.run_test(size=(120, 40)) as pilot:
            await open_browser(pilot)
            await pilot.press("u", "y")
            has_run = lambda: any(isinstance(s, RunScreen) for s in app.screen_stack)  # noqa: E731
            await wait_for(pilot, has_run, timeout=120)
            runner = next(s for s in app.screen_stack if isinstance(s, RunScreen))
            assert runner.request.resume == str(run_dir)
            assert runner.request.config.epochs == 2 and runner.request.preset == "quickstart"
            await wait_for(pilot, lambda: script.calls == 1 and not runner.model.active)

    run(scenario())
