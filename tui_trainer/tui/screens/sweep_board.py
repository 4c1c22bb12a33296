"""A sweep's leaderboard (s in the Queue view): its trials ranked by the monitored metric.

The rows are `sweep.leaderboard.leaderboard`'s (what `tui-trainer sweep status` prints), read in
a thread worker every few seconds while shown: trials with a value ranked best first (the leader
marked `★` and in bold), the others after them in trial order. Keys: enter opens the trial's run
(a live one is attached, as `tui-trainer watch` does; an ended one shows its detail), space marks
trials, c compares the marked runs in the comparison view (`tui/screens/compare.py`), or the top
three when fewer than two are marked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import CellDoesNotExist

from tui_trainer import formatting as fmt
from tui_trainer.errors import UserError
from tui_trainer.queue.store import RUNNING, QueueStore, Sweep, default_path
from tui_trainer.runlog import RunRecord
from tui_trainer.sweep.leaderboard import Row, leaderboard
from tui_trainer.tui import runs_view as rv
from tui_trainer.tui.screens.refreshing import RefreshingScreen
from tui_trainer.tui.screens.run_actions import WatchRun

WIDE = 100
"""From this width on the table also shows each trial's run directory."""
REFRESH_SECONDS = 2.0
"""How often the board is read again while shown (trials progress and end)."""
TOP = 3
"""How many of the best trials `c` compares when fewer than two are marked."""
BEST = "★"
OVERRIDES_MIN = 16
"""The overrides column keeps at least this many characters (longer ones are cut: `…`)."""


@dataclass
class Board:
    """One read of the board: the sweep, its ranked rows, or why it could not be read."""

    sweep: Sweep | None = None
    rows: list[Row] | None = None
    error: str | None = None


def rank_text(row: Row) -> str:
    """`★1` for the leader, the rank for the others, `-` for a trial without a value."""
    if row.rank is None:
        return "-"
    return f"{BEST}{row.rank}" if row.best else str(row.rank)


def value_text(row: Row) -> str:
    """The best value of the sweep's metric and its epoch (`97.81% @9`), `?` if unreadable."""
    if row.value is None:
        return "?" if row.problem else "-"
    epoch = f" @{row.best_epoch}" if row.best_epoch else ""
    return f"{fmt.metric(row.metric, row.value)}{epoch}"


def progress_text(row: Row) -> str:
    """Epochs done/planned, `-` before the trial's run wrote any."""
    if not row.epochs:
        return str(row.epoch) if row.epoch else "-"
    return f"{row.epoch}/{row.epochs}"


def compared(rows: list[Row], marked: set[int]) -> list[str]:
    """The run directories `c` compares: the marked trials' (in board order) when two or more
    are marked, else the top `TOP` ranked ones."""
    with_runs = [r for r in rows if r.run_dir is not None]
    chosen = [r for r in with_runs if r.job in marked]
    if len(chosen) < 2:
        chosen = [r for r in with_runs if r.rank is not None][:TOP]
    return [r.run_dir for r in chosen if r.run_dir is not None]


def cursor_key(table: DataTable) -> str | None:
    """The key of the row under the table's cursor as drawn (None when it has no rows)."""
    if table.row_count == 0:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except CellDoesNotExist:
        return None


class SweepBoardScreen(RefreshingScreen):
    """The trials of sweep `name` in the queue database at `path`, ranked."""

    refresh_seconds = REFRESH_SECONDS

    LISTS_RUNS: ClassVar[bool] = True
    """Leaving a run watched from here comes back here (`TrainerApp.lists_runs`)."""

    DEFAULT_CSS = """
    SweepBoardScreen #board-hint { width: auto; color: $text-muted; }
    SweepBoardScreen #board-state { height: auto; padding: 0 1; color: $text-muted; }
    SweepBoardScreen #board-table { height: 1fr; }
    SweepBoardScreen #board-empty { height: auto; padding: 1 2; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", priority=True),  # before the table's own enter
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("f5", "reload", "Refresh", show=False),
        Binding("escape,s", "back", "Back"),
        Binding("q", "app.quit", "Quit", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?", show=False),
        Binding("f1", "app.help", "Help", show=False),
    ]

    def __init__(self, name: str, path: Path | None = None) -> None:
        super().__init__()
        self.sweep_name = name
        self.path = Path(path) if path is not None else default_path()
        self.store: QueueStore | None = None
        self.board: Board | None = None
        self.marked: set[int] = set()
        self._reading = False
        self._opening = threading.Lock()
        self._rows: tuple[bool, list[list[str | Text]]] = (False, [])

    def compose(self) -> ComposeResult:
        """Header, the sweep's line, the trials table, footer."""
        with Horizontal(classes="screen-header"):
            yield Static(f"tui-trainer  ·  sweep {self.sweep_name}", classes="screen-title")
            yield Static("esc back · f1 help", id="board-hint")
        yield Static("reading the sweep…", id="board-state", markup=False)
        yield DataTable(id="board-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="board-empty", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Read the board (in a thread) and keep it fresh while shown."""
        self.query_one("#board-table", DataTable).focus()
        self.start_refreshing()

    def on_unmount(self) -> None:
        """Close the database."""
        if self.store is not None:
            self.store.close()

    # -- reading ---------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the board in a thread (a tick is skipped while the last read still runs)."""
        if not self._reading:
            self._reading = True
            self._read()

    def action_reload(self) -> None:
        """f5: read the board again now."""
        self.reload()

    @work(thread=True, group="board-read", exit_on_error=False)
    def _read(self) -> None:
        try:
            with self._opening:
                if self.store is None:
                    self.store = QueueStore(self.path)
            sweep = self.store.sweep(self.sweep_name)
            board = Board(sweep, leaderboard(self.store, sweep))
        except UserError as exc:  # no such sweep, a damaged database: one line
            board = Board(error=str(exc))
        finally:
            self._reading = False
        self.app.call_from_thread(self._got, board)

    def _got(self, board: Board) -> None:
        self.board = board
        self._show()

    def _show(self) -> None:
        """Fill the table; keep the cursor on its trial. Unchanged rows are not redrawn."""
        board = self.board or Board()
        rows = board.rows or []
        self.marked &= {r.job for r in rows}
        table = self.query_one("#board-table", DataTable)
        current = cursor_key(table)  # the trial shown under the cursor until now
        wide = self.app.size.width >= WIDE
        cells = [self._cells(row, wide) for row in rows]
        self._cut_overrides(cells, self.app.size.width)
        if (wide, cells) != self._rows:
            self._rows = (wide, cells)
            table.clear(columns=True)
            labels = [" ", "rank", "trial", "state", "overrides", self._metric_label(board)]
            labels += ["epochs", *(["run"] if wide else [])]
            table.add_columns(*labels)
            for row, row_cells in zip(rows, cells, strict=True):
                table.add_row(*row_cells, key=str(row.job))
            jobs = [str(r.job) for r in rows]
            if current in jobs:
                table.move_cursor(row=jobs.index(current), animate=False)
        self._show_state(board)

    @staticmethod
    def _cut_overrides(cells: list[list[str | Text]], width: int) -> None:
        """Cut the overrides column to the width the other columns leave (each column is
        padded by one cell on each side; 2 for the scroll bar), never under `OVERRIDES_MIN`."""
        if not cells:
            return
        others = sum(
            max(len(str(row[i])) for row in cells) + 2 for i in range(len(cells[0])) if i != 4
        )
        room = max(OVERRIDES_MIN, width - others - 2 - 2 - 2)
        for row in cells:
            text = row[4]
            if len(text) > room:
                row[4] = text[: room - 1] + "…"

    @staticmethod
    def _metric_label(board: Board) -> str:
        if board.sweep is None:
            return "best"
        arrow = "↑" if board.sweep.mode == "max" else "↓"
        return f"{fmt.metric_label(board.sweep.monitor)} {arrow}"

    def _cells(self, row: Row, wide: bool) -> list[str | Text]:
        trial = str(row.trial) if row.trial is not None else f"job {row.job}"
        plain = [
            "✓" if row.job in self.marked else " ",
            rank_text(row),
            trial,
            row.state,
            " ".join(row.overrides) or "-",
            value_text(row),
            progress_text(row),
        ]
        if wide:
            plain.append("/".join(Path(row.run_dir).parts[-2:]) if row.run_dir else "-")
        if row.best:  # the leader stands out
            return [Text(cell, style="bold") for cell in plain]
        return list(plain)

    def _show_state(self, board: Board) -> None:
        empty = self.query_one("#board-empty", Static)
        rows = board.rows or []
        text = board.error or ("" if rows else "No trials in this sweep yet.")
        empty.update(text)
        empty.display = bool(text)
        state = self.query_one("#board-state", Static)
        if board.sweep is None:
            state.update("")
            return
        ranked = sum(1 for r in rows if r.rank is not None)
        running = sum(1 for r in rows if r.state == RUNNING)
        parts = [
            board.sweep.preset,
            f"{len(rows)} trials",
            f"{ranked} ranked by {board.sweep.monitor} ({board.sweep.mode})",
        ]
        parts += [f"{running} running"] if running else []
        parts += [f"{len(self.marked)} marked"] if self.marked else []
        state.update(" · ".join(parts))

    def on_resize(self) -> None:
        """The run column only where it fits."""
        if self.board is not None:
            self._show()

    def current(self) -> Row | None:
        """The trial under the cursor."""
        rows = (self.board.rows if self.board else None) or []
        table = self.query_one("#board-table", DataTable)
        if not rows or table.row_count == 0:
            return None
        return rows[min(max(table.cursor_row, 0), len(rows) - 1)]

    # -- keys ------------------------------------------------------------------------------------
    def action_open(self) -> None:
        """enter: attach to the trial's live run, or show an ended run's detail."""
        row = self.current()
        if row is None:
            return
        if row.run_dir is None:
            self.notify(f"trial {row.trial} has not started yet ({row.state})", timeout=4)
        elif row.state == RUNNING:
            self.post_message(WatchRun(row.run_dir))
        else:
            from tui_trainer.tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(row.run_dir))

    def action_mark(self) -> None:
        """space: mark / unmark the trial under the cursor (for compare), then move down."""
        row = self.current()
        if row is None:
            return
        self.marked ^= {row.job}
        table = self.query_one("#board-table", DataTable)
        cursor = table.cursor_row
        self._rows = (self._rows[0], [])  # redraw with the mark
        self._show()
        table.move_cursor(row=cursor + 1, animate=False)

    def action_compare(self) -> None:
        """c: the marked trials' runs overlaid (the top three when fewer are marked)."""
        run_dirs = compared((self.board.rows if self.board else None) or [], self.marked)
        if len(run_dirs) < 2:
            self.notify(
                "Two trials with runs are needed: mark them with space (or wait for results).",
                timeout=5,
            )
            return
        self._compare(run_dirs)

    @work(thread=True, exclusive=True, group="board-compare", exit_on_error=False)
    def _compare(self, run_dirs: list[str]) -> None:
        """Worker thread: read the runs in full, then open the comparison."""
        records: list[RunRecord] = []
        warnings: list[str] = []
        for run_dir in run_dirs:
            record, warning = rv.read_tolerant(run_dir)
            records.append(record)
            warnings += [warning] if warning else []
        self.app.call_from_thread(self._open_compare, records, warnings)

    def _open_compare(self, records: list[RunRecord], warnings: list[str]) -> None:
        from tui_trainer.tui.screens.compare import CompareScreen

        for warning in warnings:
            self.notify(warning, severity="warning", timeout=8)
        self.app.push_screen(CompareScreen(records))

    def action_back(self) -> None:
        """escape / s: back to the queue."""
        self.dismiss()
