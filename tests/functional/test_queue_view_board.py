"""The sweep leaderboard in the console (s in the Queue view): ranked, best marked, compare."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pilot import NoGpuPanel, demo_presets, run, wait_for, wait_for_text
from support.runsdirs import make_run
from support.scripted import ScriptedExecutor
from textual.widgets import DataTable

from tui_trainer.queue.store import QueueStore, default_path
from tui_trainer.sweep.space import parse_space
from tui_trainer.sweep.spec import SweepSpec
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.compare import CompareScreen
from tui_trainer.tui.screens.queue import QueueScreen
from tui_trainer.tui.screens.run_actions import WatchRun
from tui_trainer.tui.screens.run_detail import RunDetailScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.screens.sweep_board import SweepBoardScreen, compared

SWEEP = "quickstart-20261130-090000"
EPOCHS = {0: 2, 1: 6, 2: 4}
"""Trial → epochs of its (finished) run: the fake engine's accuracy grows with the epochs, so
the ranking is trial 1, 2, 0; trial 3 is still queued (no value)."""


@pytest.fixture(autouse=True)
def _cwd(private_runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def make_sweep(tmp_path: Path) -> tuple[QueueStore, dict[int, int]]:
    """A grid of four learning rates over `quickstart`, three trials done, one queued; and a
    job outside the sweep. Returns the store and trial → job id."""
    store = QueueStore(default_path())
    runs = tmp_path / "runs"
    space = parse_space(["optim.lr=0.1,0.03,0.01,0.003"])
    spec = SweepSpec(sampler="grid", space=space, trials=4, out=str(runs), cwd=str(tmp_path))
    store.add_sweep(SWEEP, "quickstart", spec.to_json(), "val_accuracy", "max")
    store.add("quickstart", ["epochs=1"], out=str(runs))  # not in the sweep
    jobs = {}
    for trial, lr in enumerate(("0.1", "0.03", "0.01", "0.003")):
        overrides = ["data.batch_size=32", f"optim.lr={lr}"]
        job = store.add("quickstart", overrides, out=str(runs), sweep=SWEEP, trial=trial)
        jobs[trial] = job.id
        if trial in EPOCHS:
            run_dir = make_run(runs, "quickstart", f"2026113{trial}-100000", epochs=EPOCHS[trial])
            store.claim(job.id, run_dir=str(run_dir), gpu_ids=[])
            store.finish(job.id, "done", exit_code=0)
    return store, jobs


def make_app(tmp_path: Path) -> TrainerApp:
    return TrainerApp(
        executor=ScriptedExecutor(), presets=demo_presets(tmp_path), gpu_panel=NoGpuPanel
    )


async def open_board(pilot, job_id: int | None) -> SweepBoardScreen:
    """f4, the cursor on `job_id` (None: the first job, not in a sweep), then s."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SetupScreen))
    await pilot.press("f4")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, QueueScreen))
    queue = pilot.app.screen
    await wait_for(pilot, lambda: queue.listing is not None and bool(queue.listing.rows))
    if job_id is not None:
        ids = [r.job.id for r in queue.listing.rows]
        queue.query_one("#queue-table", DataTable).move_cursor(row=ids.index(job_id))
        await pilot.pause()
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SweepBoardScreen))
    board = pilot.app.screen
    await wait_for(pilot, lambda: board.board is not None)
    return board


def test_leaderboard_ranks_marks_the_best_and_compares_the_top(tmp_path: Path) -> None:
    _, jobs = make_sweep(tmp_path)

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            board = await open_board(pilot, jobs[2])
            text = await wait_for_text(pilot, f"sweep {SWEEP}", "4 trials · 3 ranked")
            rows = board.board.rows
            assert [r.trial for r in rows] == [1, 2, 0, 3]
            assert [r.best for r in rows] == [True, False, False, False]
            table = board.query_one("#board-table", DataTable)
            cells = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            assert [c[1] for c in cells] == ["★1", "2", "3", "-"]
            assert cells[0][4] == "optim.lr=0.03"  # only the key the sweep varies
            assert cells[0][5] == "94.76% @5" and cells[0][6] == "6/6"  # best at epoch 5 of 6
            assert cells[3][3] == "queued" and cells[3][5] == "-"
            assert "val acc ↑" in text
            await pilot.press("c")  # nothing marked: the top three
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            names = [r.name for r in app.screen.runs]
            assert names == [f"quickstart/2026113{t}-100000" for t in (1, 2, 0)]
            await pilot.press("q")
            await wait_for(pilot, lambda: app.screen is board)
            table.move_cursor(row=2)
            await pilot.press("space")  # trial 0
            table.move_cursor(row=0)
            await pilot.press("space")  # trial 1
            await wait_for_text(pilot, "2 marked")
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            names = [r.name for r in app.screen.runs]
            assert names == [f"quickstart/2026113{t}-100000" for t in (1, 0)]
            await pilot.press("q")
            await wait_for(pilot, lambda: app.screen is board)
            table.move_cursor(row=0)
            await pilot.press("enter")  # an ended trial: its run's detail
            await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is board)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))

    run(scenario())


def test_s_outside_a_sweep_opens_the_newest_sweep(tmp_path: Path) -> None:
    make_sweep(tmp_path)

    async def scenario() -> None:
        async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
            board = await open_board(pilot, None)  # the first job is in no sweep
            assert board.sweep_name == SWEEP

    run(scenario())


def test_s_without_sweeps_says_how_to_start_one(tmp_path: Path) -> None:
    QueueStore(default_path()).add("quickstart", [], out="runs")

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            await pilot.press("f4")
            await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen))
            await wait_for(pilot, lambda: app.screen.listing is not None)
            await pilot.press("s")
            await wait_for(pilot, lambda: any("No sweeps yet" in n.message for n in notes(app)))
            assert isinstance(app.screen, QueueScreen)

    run(scenario())


def notes(app: TrainerApp) -> list:
    return list(app._notifications)


def test_board_follows_results_and_the_cursor_its_trial(tmp_path: Path) -> None:
    """A trial that ends while the board is shown is ranked on the next read (the new leader
    marked) and the cursor stays on the trial it was on."""
    store, jobs = make_sweep(tmp_path)

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            board = await open_board(pilot, jobs[3])
            await wait_for_text(pilot, "3 ranked")
            table = board.query_one("#board-table", DataTable)
            table.move_cursor(row=3)  # trial 3, queued
            await pilot.pause()
            run_dir = make_run(tmp_path / "runs", "quickstart", "20261133-100000", epochs=8)
            store.claim(jobs[3], run_dir=str(run_dir), gpu_ids=[])
            store.finish(jobs[3], "done", exit_code=0)
            await wait_for_text(pilot, "4 ranked", timeout=8)
            assert [r.trial for r in board.board.rows] == [3, 1, 2, 0]
            assert board.board.rows[0].best
            assert board.current().trial == 3 and table.cursor_row == 0

    run(scenario())


def test_enter_on_a_running_trial_attaches_its_run(tmp_path: Path) -> None:
    """enter on a running trial asks the app to watch its run (WatchRun, as the runs browser
    does); on a queued one it says the trial has not started."""
    store, jobs = make_sweep(tmp_path)
    posted: list[WatchRun] = []

    def hook(message) -> None:
        if isinstance(message, WatchRun):
            posted.append(message)

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
            board = await open_board(pilot, jobs[3])
            await wait_for_text(pilot, "3 ranked")
            board.query_one("#board-table", DataTable).move_cursor(row=3)  # trial 3, queued
            await pilot.press("enter")
            await wait_for(pilot, lambda: any("not started" in n.message for n in notes(app)))
            run_dir = tmp_path / "runs" / "quickstart" / "20261133-100000"
            store.claim(jobs[3], run_dir=str(run_dir), gpu_ids=[])
            await wait_for_text(pilot, "1 running")
            await pilot.press("enter")
            await wait_for(pilot, lambda: bool(posted))
            assert {m.run_dir for m in posted} == {str(run_dir)}

    run(scenario())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_board_fits_the_terminal(tmp_path: Path, size: tuple[int, int]) -> None:
    _, jobs = make_sweep(tmp_path)

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=size) as pilot:
            await open_board(pilot, jobs[0])
            text = await wait_for_text(pilot, "3 ranked", "Compare")  # the footer too
            lines = text.splitlines()
            assert len(lines) == size[1] and all(len(line) <= size[0] for line in lines)
            best = next(line for line in lines if "★1" in line)
            for cell in ("optim.lr=0.03", "done", "6/6", "94.76% @5"):
                assert cell in best, (cell, best)
            for key in ("Open", "Mark", "Compare", "Back"):
                assert key in lines[-1], (key, lines[-1])
            assert ("quickstart/20261131-100000" in best) == (size[0] >= 100)

    run(scenario())


def test_compared_runs() -> None:
    """Marked trials when two or more are marked, else the top three ranked (with runs)."""
    from tui_trainer.sweep.leaderboard import Row

    def row(job: int, rank: int | None, run_dir: str | None = "r") -> Row:
        return Row(
            rank,
            rank == 1,
            job,
            job,
            "done",
            [],
            "m",
            None,
            None,
            0,
            0,
            f"{run_dir}{job}" if run_dir else None,
        )

    rows = [row(1, 1), row(2, 2), row(3, 3), row(4, 4), row(5, None), row(6, None, None)]
    assert compared(rows, set()) == ["r1", "r2", "r3"]
    assert compared(rows, {4}) == ["r1", "r2", "r3"]  # one marked is not a comparison
    assert compared(rows, {5, 2}) == ["r2", "r5"]  # board order
    assert compared(rows[:1], set()) == ["r1"]
