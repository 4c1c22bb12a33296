"""The runs browser: every run under the runs root, next to the presets (f3 from setup).

A table of runs (live ones marked `●`), sortable by date or best metric, filtered by preset or
name as you type. Enter opens a run (a live one is attached, as `tui-trainer watch` does);
space marks runs and `c` compares the marked ones in the comparison view. `r`/`u`/`w` replay,
resume or watch the run under the cursor (shift+R / shift+U: in the background; replay and
resume ask first, see run_actions.py). The listing is read in a thread worker and refreshed
every few seconds while shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Static

from tui_trainer.remote.runs import RunInfo
from tui_trainer.tui import runs_view as rv
from tui_trainer.tui.screens.refreshing import RefreshingScreen
from tui_trainer.tui.screens.run_actions import LAUNCH_BINDINGS, WatchRun, launch

WIDE = 100
"""From this width on the table also shows when each run started (narrower, the run's name
carries its start stamp) and its wall time."""
COLUMNS = (
    ("mark", " "),
    ("status", "status"),
    ("run", "run"),
    ("epochs", "epochs"),
    ("best", "best"),
    ("started", "started"),
    ("time", "time"),
)
REFRESH_SECONDS = 5.0
"""How often the list is read again while shown (live runs start, progress and end)."""


def _same(a: rv.Listing, b: rv.Listing) -> bool:
    """Two reads of the list show the same (every run's row, the problems, the root's state)."""
    return (a.runs, a.problems, a.missing) == (b.runs, b.problems, b.missing)


class FilterInput(Input):
    """The filter line: focused by `/` or a click, never by tab, so a key meant for the list
    (s sort, r replay, ...) does not type into it after a tab."""

    opened = False

    def allow_focus(self) -> bool:
        """Only once opened (`open`); it closes again when focus leaves."""
        return self.opened

    def open(self) -> None:
        """Focus the filter to type in it."""
        self.opened = True
        self.focus()

    def on_blur(self) -> None:
        """Focus left: the next tab skips the filter again."""
        self.opened = False

    def on_mouse_down(self) -> None:
        """A click opens the filter."""
        if not self.opened:
            self.open()


class RunsScreen(RefreshingScreen):
    """Every run under `root`: open, mark and compare, replay, resume, watch."""

    refresh_seconds = REFRESH_SECONDS

    CSS_PATH = "runs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", priority=True),  # before the table's own enter
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("m", "mistakes", "Mistakes", show=False),  # ? lists it (the footer is full)
        Binding("s", "sort", "Sort", show=False),  # the bar says "s sort: ..."
        Binding("slash", "filter", "Filter", key_display="/", show=False),  # and "/ filter"
        *LAUNCH_BINDINGS,
        Binding("f5", "reload", "Refresh", show=False),
        Binding("escape,f3", "back", "New run"),
        Binding("q", "app.quit", "Quit", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?", show=False),
        Binding("f1", "app.help", "Help", show=False),
    ]

    def __init__(self, root: str | Path = "runs", out: str | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.out = out
        self.sort = "date"
        self.filter_text = ""
        self.listing: rv.Listing | None = None
        self.shown: list[RunInfo] = []
        self.marked: set[str] = set()
        self._cache: rv.Cache = {}
        self._rows: tuple[bool | None, list[list[str]]] = (None, [])

    def compose(self) -> ComposeResult:
        """Header, filter line, the runs table, footer."""
        with Horizontal(classes="screen-header"):
            yield Static(f"tui-trainer  ·  runs in {self.root}", classes="screen-title")
            yield Static("esc new run · f1 help", id="runs-hint")
        with Horizontal(id="runs-bar"):
            yield FilterInput(
                placeholder="/ filter by preset or name", id="runs-filter", compact=True
            )
            yield Static("", id="runs-state")
        table: DataTable[str] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="runs-empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Read the list (in a thread) and keep it fresh while shown."""
        self.query_one("#runs-empty", Static).update("reading runs…")
        self.query_one("#runs-table", DataTable).focus()
        self.start_refreshing()

    # -- the listing -----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def reload(self) -> None:
        """Worker thread: inspect every run under the root, then show them."""
        listing = rv.scan(self.root, self._cache)
        self.app.call_from_thread(self._got, listing)

    def action_reload(self) -> None:
        """f5: read the list again now."""
        self.reload()

    def _got(self, listing: rv.Listing) -> None:
        before = self.listing
        if before is not None and _same(before, listing):
            return  # nothing changed since the last read: nothing to redraw
        self.listing = listing
        self.marked &= {i.run_dir for i in listing.runs}
        self._show()

    def _show(self) -> None:
        """Fill the table from the listing, the sort and the filter; keep the cursor's run.
        Unchanged rows are not redrawn (the list is read again every few seconds)."""
        table = self.query_one("#runs-table", DataTable)
        current = self.current_run_dir()
        runs = self.listing.runs if self.listing else []
        self.shown = rv.sort_runs(rv.filter_runs(runs, self.filter_text), self.sort)
        wide = self.app.size.width >= WIDE
        rows = [self._cells(info, wide) for info in self.shown]
        if (wide, rows) != self._rows:
            self._rows = (wide, rows)
            table.clear(columns=True)
            for key, label in COLUMNS if wide else COLUMNS[:-2]:
                table.add_column(label, key=key)
            for info, cells in zip(self.shown, rows, strict=True):
                table.add_row(*cells, key=info.run_dir)
            keys = [i.run_dir for i in self.shown]
            if current in keys:
                table.move_cursor(row=keys.index(current), animate=False)
        self._show_state(len(runs))

    def _cells(self, info: RunInfo, wide: bool) -> list[str]:
        cells = [
            "✓" if info.run_dir in self.marked else " ",
            rv.status_text(info),
            rv.run_name(info),
            rv.progress_text(info),
            rv.best_text(info),
        ]
        return [*cells, rv.started_text(info), rv.took_text(info)] if wide else cells

    def on_resize(self) -> None:
        """The time column only where it fits."""
        if self.listing is not None:
            self._show()

    def _show_state(self, total: int) -> None:
        listing = self.listing
        empty = self.query_one("#runs-empty", Static)
        if listing is None:
            text = "reading runs…"
        elif listing.missing:
            text = f"No runs yet: {self.root}/ does not exist. Start one from New run (escape)."
        elif not listing.runs:
            text = f"No runs under {self.root}/ yet. Start one from New run (escape)."
        elif not self.shown:
            text = f"No run matches “{self.filter_text}” (escape in the filter clears it)."
        else:
            text = ""
        if listing and listing.problems:
            text = "\n".join([text, *listing.problems]).strip()
        empty.update(text)
        empty.display = bool(text)
        live = sum(1 for i in (listing.runs if listing else []) if i.live)
        parts = [f"{len(self.shown)}/{total} runs" if self.filter_text else f"{total} runs"]
        parts += [f"{live} live"] if live else []
        parts += [f"{len(self.marked)} marked"] if self.marked else []
        parts.append(f"s sort: {'newest' if self.sort == 'date' else 'best metric'}")
        self.query_one("#runs-state", Static).update(" · ".join(parts))

    def current_run_dir(self) -> str | None:
        """The run under the cursor."""
        table = self.query_one("#runs-table", DataTable)
        if not self.shown or table.row_count == 0:
            return None
        row = min(max(table.cursor_row, 0), len(self.shown) - 1)
        return self.shown[row].run_dir

    def current(self) -> RunInfo | None:
        """The RunInfo under the cursor."""
        run_dir = self.current_run_dir()
        return next((i for i in self.shown if i.run_dir == run_dir), None)

    # -- filter and sort -------------------------------------------------------------------------
    def action_filter(self) -> None:
        """/: type to filter."""
        self.query_one("#runs-filter", FilterInput).open()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._show()

    def action_back(self) -> None:
        """escape: in the filter, clear it (or leave it); else back to the presets."""
        box = self.query_one("#runs-filter", Input)
        if box.has_focus:
            if box.value:
                box.value = ""
            else:
                self.query_one("#runs-table", DataTable).focus()
            return
        self.dismiss()

    def action_sort(self) -> None:
        """s: newest first / best metric first."""
        self.sort = rv.SORTS[(rv.SORTS.index(self.sort) + 1) % len(rv.SORTS)]
        self._show()

    # -- open, mark, compare ---------------------------------------------------------------------
    def action_open(self) -> None:
        """enter: a live run is attached (its run screen); any other shows its detail."""
        if self.query_one("#runs-filter", Input).has_focus:  # enter ends the filter
            self.query_one("#runs-table", DataTable).focus()
            return
        info = self.current()
        if info is None:
            return
        if info.live:
            self.post_message(WatchRun(info.run_dir))
            return
        from tui_trainer.tui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(info.run_dir, out=self.out))

    def action_mark(self) -> None:
        """space: mark / unmark the run under the cursor (for compare), then move down."""
        info = self.current()
        if info is None:
            return
        self.marked ^= {info.run_dir}
        table = self.query_one("#runs-table", DataTable)
        row = table.cursor_row
        table.update_cell(info.run_dir, "mark", "✓" if info.run_dir in self.marked else " ")
        self._rows = (self._rows[0], [self._cells(i, bool(self._rows[0])) for i in self.shown])
        table.move_cursor(row=row + 1, animate=False)
        self._show_state(len(self.listing.runs) if self.listing else 0)

    def action_compare(self) -> None:
        """c: the marked runs overlaid, with a config diff (the `compare` view)."""
        order = [i.run_dir for i in self.shown if i.run_dir in self.marked]
        order += sorted(self.marked - set(order))
        if len(order) < 2:
            self.notify("Mark two or more runs with space, then press c.", timeout=4)
            return
        self._compare(order)

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _compare(self, run_dirs: list[str]) -> None:
        """Worker thread: read the runs in full, then open the comparison."""
        records, warnings = [], []
        for run_dir in run_dirs:
            record, warning = rv.read_tolerant(run_dir)
            records.append(record)
            warnings += [warning] if warning else []
        self.app.call_from_thread(self._open_compare, records, warnings)

    def _open_compare(self, records: list, warnings: list[str]) -> None:
        from tui_trainer.tui.screens.compare import CompareScreen

        for warning in warnings:
            self.notify(warning, severity="warning", timeout=8)
        self.app.push_screen(CompareScreen(records))

    def action_mistakes(self) -> None:
        """m: the worst mistakes of the run under the cursor (its newest eval's, else its own)
        with the confusion heatmap."""
        from tui_trainer.runlog.pictures import latest_mistakes
        from tui_trainer.tui.screens.gallery import open_gallery

        info = self.current()
        if info is not None:
            open_gallery(self, latest_mistakes(Path(info.run_dir)), rv.run_name(info))

    # -- actions ---------------------------------------------------------------------------------
    def action_launch(self, what: str, background: bool = False) -> None:
        """r / u / w (R / U: in the background) for the run under the cursor."""
        info = self.current()
        if info is not None:
            launch(self, info.run_dir, what, background, self.out)
