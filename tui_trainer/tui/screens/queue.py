"""The Queue view (f4 from setup): the queue's jobs, their state, GPUs and live progress.

A table of every job in queue order (what `tui-trainer queue ls` lists), read from the queue
database in a thread worker about once a second; a started job's run shows its epochs and best
metric as the runs browser does (`tui/queue_view.py`). Keys act on the job under the cursor:
h hold, r release, d remove (asked first), t retry, K / J (ctrl+up / ctrl+down) move a waiting
job up or down, enter / w watch its run (as `tui-trainer watch` does; an ended run opens its
detail), s the leaderboard of its sweep (or the newest sweep). Every change is one transaction
of the queue database, made off the UI thread; a change the job's state does not allow is
refused in one line, as the command line refuses it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Static

from tui_trainer.errors import UserError
from tui_trainer.queue.paths import QueuePaths, wake
from tui_trainer.queue.store import RUNNING, Job, QueueStore, default_path
from tui_trainer.tui import queue_view as qv
from tui_trainer.tui.screens.dialogs import YesNo
from tui_trainer.tui.screens.refreshing import RefreshingScreen
from tui_trainer.tui.screens.run_actions import WatchRun
from tui_trainer.tui.screens.sweep_board import SweepBoardScreen, cursor_key

WIDE = 100
"""From this width on the table also shows each job's run directory."""
COLUMNS = (
    ("id", "id"),
    ("state", "state"),
    ("job", "job"),
    ("gpu", "gpu"),
    ("epochs", "epochs"),
    ("best", "best"),
    ("run", "run"),
)
REFRESH_SECONDS = 1.0
"""How often the queue is read again while shown."""
JOB_MIN = 16
"""The job column (preset and overrides) keeps at least this many characters."""


class ConfirmRemove(YesNo):
    """Asks before a job leaves the queue (its run directory, if any, stays)."""

    ANSWERS = "remove"
    DEFAULT_CSS = """
    ConfirmRemove #remove-dialog { width: 64; max-width: 100%; }
    ConfirmRemove #remove-text { margin-bottom: 1; }
    ConfirmRemove #remove-buttons { height: 1; align-horizontal: right; }
    ConfirmRemove #remove-buttons Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Remove", show=False),
        Binding("n,escape", "answer(False)", "Keep", show=False),
    ]

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        job = self.job
        kept = f" Its run directory stays: {job.run_dir}" if job.run_dir else ""
        with Vertical(id="remove-dialog", classes="dialog") as dialog:
            dialog.border_title = f"Remove job {job.id}?"
            yield Static(
                f"{qv.job_text(job, 200)} ({job.state}) leaves the queue.{kept}",
                id="remove-text",
                markup=False,
            )
            with Horizontal(id="remove-buttons"):
                yield Button("Remove (y)", id="remove-yes", variant="error", compact=True)
                yield Button("Keep (n)", id="remove-no", compact=True)


class QueueScreen(RefreshingScreen):
    """The jobs of the queue database at `path` (default: the user's, `queue.store`)."""

    refresh_seconds = REFRESH_SECONDS

    LISTS_RUNS: ClassVar[bool] = True
    """Leaving a run watched from here comes back here (`TrainerApp.lists_runs`)."""

    CSS_PATH = "queue.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "watch", "Watch", priority=True),  # before the table's own enter
        Binding("w", "watch", "Watch", show=False),
        Binding("h", "change('hold')", "Hold"),
        Binding("r", "change('release')", "Release"),
        Binding("d,delete", "remove", "Remove", key_display="d"),
        Binding("t", "change('retry')", "Retry"),
        Binding("K,ctrl+up", "move(-1)", "Up", key_display="K"),
        Binding("J,ctrl+down", "move(1)", "Down", key_display="J"),
        Binding("s", "sweep", "Sweep"),
        Binding("f5", "reload", "Refresh", show=False),
        Binding("escape,f4", "back", "Back", show=False),  # the header says "esc back"
        Binding("q", "app.quit", "Quit", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?", show=False),
        Binding("f1", "app.help", "Help", show=False),
    ]

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = Path(path) if path is not None else default_path()
        self.store: QueueStore | None = None
        self.listing: qv.QueueListing | None = None
        self._cache: qv.RunCache = {}
        self._reading = False
        self._opening = threading.Lock()
        self._rows: tuple[int, list[list[str]]] = (-1, [])

    def compose(self) -> ComposeResult:
        """Header, the state line, the jobs table, footer."""
        with Horizontal(classes="screen-header"):
            yield Static("tui-trainer  ·  queue", classes="screen-title")
            yield Static("esc back · f1 help", id="queue-hint")
        yield Static("reading the queue…", id="queue-state")
        yield DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="queue-empty", markup=False)
        yield Static("", id="queue-detail", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Read the queue (in a thread) and keep it fresh while shown."""
        self.query_one("#queue-table", DataTable).focus()
        self.start_refreshing()

    def on_unmount(self) -> None:
        """Close the database."""
        if self.store is not None:
            self.store.close()

    # -- reading ---------------------------------------------------------------------------------
    def _open(self) -> QueueStore | None:
        """The store, opened on first use; None while there is no queue database yet (opening
        the view creates none)."""
        with self._opening:
            if self.store is None and self.path.exists():
                self.store = QueueStore(self.path)
            return self.store

    def reload(self) -> None:
        """Read the queue in a thread (a tick is skipped while the last read still runs: a live
        run's socket may take a moment to answer)."""
        if not self._reading:
            self._reading = True
            self._read()

    @work(thread=True, group="queue-read", exit_on_error=False)
    def _read(self) -> None:
        try:
            store = self._open()
            listing = qv.read_queue(store, self._cache) if store else qv.QueueListing()
        except UserError as exc:  # a damaged database: said in one line, never touched
            listing = qv.QueueListing(error=str(exc))
        finally:
            self._reading = False
        self.app.call_from_thread(self._got, listing)

    def action_reload(self) -> None:
        """f5: read the queue again now."""
        self.reload()

    def _got(self, listing: qv.QueueListing) -> None:
        self.listing = listing
        self._show()

    def _show(self) -> None:
        """Fill the table; keep the cursor on its job. Unchanged rows are not redrawn."""
        listing = self.listing or qv.QueueListing()
        table = self.query_one("#queue-table", DataTable)
        current = cursor_key(table)  # the job shown under the cursor until now
        width = self.app.size.width
        wide = width >= WIDE
        rows = [self._cells(row, wide) for row in listing.rows]
        job_width = self._job_width(rows, wide, width)
        for cells, row in zip(rows, listing.rows, strict=True):
            cells[2] = qv.job_text(row.job, job_width)
        if (width, rows) != self._rows:
            self._rows = (width, rows)
            table.clear(columns=True)
            for key, label in COLUMNS if wide else COLUMNS[:-1]:
                table.add_column(label, key=key)
            for row, cells in zip(listing.rows, rows, strict=True):
                table.add_row(*cells, key=str(row.job.id))
            ids = [str(row.job.id) for row in listing.rows]
            if current in ids:
                table.move_cursor(row=ids.index(current), animate=False)
        self._show_state(listing)

    def _cells(self, row: qv.JobRow, wide: bool) -> list[str]:
        cells = [
            str(row.job.id),
            qv.state_text(row),
            "",  # the job: cut to the width left by the other columns (`_show`)
            qv.gpu_text(row.job),
            qv.progress_text(row),
            qv.best_text(row),
        ]
        return [*cells, qv.run_text(row.job)] if wide else cells

    @staticmethod
    def _job_width(rows: list[list[str]], wide: bool, width: int) -> int:
        """The characters left for the job column once every other column has its widest
        cell (each column is padded by one cell on each side; 2 for the scroll bar)."""
        shown = COLUMNS if wide else COLUMNS[:-1]
        others = sum(
            max([len(label), *(len(r[i]) for r in rows)]) + 2
            for i, (key, label) in enumerate(shown)
            if key != "job"
        )
        return max(JOB_MIN, width - others - 2 - 2)

    def _show_state(self, listing: qv.QueueListing) -> None:
        empty = self.query_one("#queue-empty", Static)
        text = listing.error or ("" if listing.rows else qv.EMPTY)
        empty.update(text)
        empty.display = bool(text)
        parts = [qv.counts_text(listing.rows) if listing.rows else f"queue: {self.path}"]
        if not listing.error:
            parts.append(qv.scheduler_text(listing))
        self.query_one("#queue-state", Static).update(" · ".join(parts))
        self._show_detail()

    def _show_detail(self) -> None:
        """The job under the cursor in full (the table cuts its overrides; how it ended)."""
        row = self.current()
        detail = self.query_one("#queue-detail", Static)
        detail.update(qv.detail_text(row) if row is not None else "")
        detail.display = row is not None

    def on_data_table_row_highlighted(self) -> None:
        """The cursor moved: show that job's detail."""
        if self.listing is not None:
            self._show_detail()

    def on_resize(self) -> None:
        """The run column only where it fits; the job column takes what is left."""
        if self.listing is not None:
            self._show()

    def current(self) -> qv.JobRow | None:
        """The row under the cursor."""
        rows = self.listing.rows if self.listing else []
        table = self.query_one("#queue-table", DataTable)
        if not rows or table.row_count == 0:
            return None
        return rows[min(max(table.cursor_row, 0), len(rows) - 1)]

    def current_job(self) -> Job | None:
        """The job under the cursor."""
        row = self.current()
        return row.job if row is not None else None

    # -- changes ---------------------------------------------------------------------------------
    def action_change(self, verb: str) -> None:
        """h hold / r release / t retry the job under the cursor."""
        job = self.current_job()
        if job is not None:
            self._apply(verb, job.id, None)

    def action_remove(self) -> None:
        """d / delete: remove the job under the cursor, after asking (a running one is
        refused at once: its run has to stop first)."""
        job = self.current_job()
        if job is None:
            return
        if job.state == RUNNING:
            self.notify(
                f"job {job.id} is running: stop its run first (enter watches it; s there stops it)",
                severity="warning",
                timeout=6,
            )
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply("remove", job.id, None)

        self.app.push_screen(ConfirmRemove(job), answered)

    def action_move(self, delta: int) -> None:
        """K / J: move a waiting job one place up (sooner) or down among the waiting jobs."""
        row = self.current()
        if row is None:
            return
        rows = self.listing.rows if self.listing else []
        index = qv.pending_index(rows, row.job.id)
        if index is None:
            self.notify(
                f"job {row.job.id} is {row.job.state}: only a queued or held job can move",
                timeout=4,
            )
            return
        waiting = sum(1 for r in rows if qv.pending_index(rows, r.job.id) is not None)
        target = index + delta
        if 0 <= target < waiting:
            self._apply("move", row.job.id, target)

    @work(thread=True, group="queue-change", exit_on_error=False)
    def _apply(self, verb: str, job_id: int, to_index: int | None) -> None:
        """Worker thread: one change to the queue database, then the queue read again."""
        try:
            store = self._open()
            if store is None:
                return
            if verb == "move":
                store.move(job_id, to_index=to_index)
            else:
                getattr(store, verb)(job_id)
            if verb != "hold":  # a waiting job may start now: the scheduler looks at once
                wake(QueuePaths(store.path))
        except UserError as exc:
            self.app.call_from_thread(
                self.notify, f"{verb} refused: {exc}", severity="warning", timeout=6
            )
            return
        if verb != "move":
            done = {"hold": "held", "release": "released", "retry": "queued again"}
            note = f"job {job_id} {done.get(verb, 'removed')}"
            self.app.call_from_thread(self.notify, note, timeout=3)
        self.app.call_from_thread(self.reload)

    # -- leaving ---------------------------------------------------------------------------------
    def action_watch(self) -> None:
        """enter / w: attach to the job's live run (as `tui-trainer watch`); an ended run
        opens its detail, as in the runs browser."""
        row = self.current()
        if row is None:
            return
        job = row.job
        if job.run_dir is None:
            self.notify(f"job {job.id} has not started yet ({job.state})", timeout=4)
        elif job.state == RUNNING:
            self.post_message(WatchRun(job.run_dir))
        elif row.run is None and row.problem is None:
            self.notify(f"job {job.id}: its run wrote nothing ({job.run_dir})", timeout=6)
        else:
            from tui_trainer.tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(job.run_dir))

    def action_sweep(self) -> None:
        """s: the leaderboard of the sweep of the job under the cursor (else the newest)."""
        job = self.current_job()
        self._open_sweep(job.sweep if job is not None else None)

    @work(thread=True, group="queue-sweep", exit_on_error=False)
    def _open_sweep(self, name: str | None) -> None:
        try:
            store = self._open()
            sweeps = store.sweeps() if store is not None else []
        except UserError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        if name is None and not sweeps:
            self.app.call_from_thread(
                self.notify, "No sweeps yet: tui-trainer sweep PRESET key=a,b,c", timeout=6
            )
            return
        chosen = name if name is not None else sweeps[0].name
        self.app.call_from_thread(self._push_board, chosen)

    def _push_board(self, name: str) -> None:
        self.app.push_screen(SweepBoardScreen(name, self.path))

    def action_back(self) -> None:
        """escape / f4: back to where the queue was opened from."""
        self.dismiss()
