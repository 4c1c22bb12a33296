"""The runs browser's periodic refresh reads and redraws only what changed: a run that is not
live and whose files are unchanged (finished or died) is not read again, and a read that finds
nothing new leaves the table alone (2,000 runs: the idle browser's CPU, benchmarks/RESULTS.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.pilot import run, wait_for
from support.runsdirs import damage, make_run
from textual.app import App
from textual.widgets import DataTable

from tui_trainer.tui import runs_view as rv
from tui_trainer.tui.screens.runs import RunsScreen


@pytest.fixture(autouse=True)
def _own_socket_dir(private_runtime: Path) -> None:
    """A socket directory of the test's own (a run without a summary is asked there)."""


def counting_inspect(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every run directory `scan` reads from now on."""
    read: list[str] = []
    inspect = rv.inspect

    def counted(run_dir: Path):
        read.append(Path(run_dir).name)
        return inspect(run_dir)

    monkeypatch.setattr(rv, "inspect", counted)
    return read


def test_a_refresh_reads_again_only_the_runs_whose_files_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished = make_run(tmp_path, "quickstart", "finished")
    died = make_run(tmp_path, "quickstart", "died")
    damage(died)  # killed: no summary.json
    cache: rv.Cache = {}
    read = counting_inspect(monkeypatch)
    first = rv.scan(tmp_path, cache)
    assert sorted(read) == ["died", "finished"]
    read.clear()
    again = rv.scan(tmp_path, cache)
    assert read == []  # neither is read again (the died one was, at every refresh)
    assert again.runs == first.runs
    stat = died.stat()  # a resume adds an entry to its directory (.endpoint, the lock)
    os.utime(died, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with open(finished / "metrics.jsonl", "a") as fh:  # and appends to metrics.jsonl
        fh.write("\n")
    rv.scan(tmp_path, cache)
    assert sorted(read) == ["died", "finished"]


class Browser(App[None]):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.root))


def test_a_refresh_that_finds_nothing_new_leaves_the_table_alone(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        make_run(tmp_path, "quickstart", name)

    async def scenario() -> None:
        app = Browser(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            table = screen.query_one("#runs-table", DataTable)
            await wait_for(pilot, lambda: table.row_count == 3)
            shown: list[int] = []
            show = screen._show
            screen._show = lambda: (shown.append(1), show())[1]  # type: ignore[method-assign]
            listing = screen.listing
            screen.reload()
            await wait_for(pilot, lambda: screen.listing is not listing or _idle(screen))
            await pilot.pause(0.2)
            assert shown == []  # nothing changed: nothing redrawn
            make_run(tmp_path, "quickstart", "d")
            screen.reload()
            await wait_for(pilot, lambda: table.row_count == 4)
            assert shown == [1]

    run(scenario())


def _idle(screen: RunsScreen) -> bool:
    """The screen's scan worker has finished."""
    return not any(w.group == "scan" and w.is_running for w in screen.app.workers)
