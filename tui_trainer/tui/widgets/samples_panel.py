"""The run screen's samples panel: the fixed validation pictures of one epoch, in a grid.

Created only when the user shows it (the run screen's `i`), so a hidden panel reads no set and
draws nothing. It follows the newest set unless `[` stepped back to an earlier epoch; `]` steps
forward again (at the newest it follows again). Following, a new set rebuilds the grid at most
every `REFRESH_EVERY` seconds (short epochs' sets coalesce into the newest): drawing a grid costs
the UI thread 100-200 ms holding the GIL, which comes out of training's time in the same process
(`benchmarks/bench_console.py --samples-panel`: at one grid every 2 s a 4 s quickstart run lost
6%; at one per 10 s the panel costs no more than the plots). Epochs longer than that show each.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static

from tui_trainer.runlog.pictures import PictureSet, read_set, tile
from tui_trainer.tui.pictures import mode as image_mode
from tui_trainer.tui.pictures.tiles import Layout, layout
from tui_trainer.tui.widgets.picture_tile import PictureGrid, images_mode, pixel_size

HINT = "[ ] epochs"
REFRESH_EVERY = 10.0
"""Seconds between grids rebuilt for new sets while following the newest (user steps, resizes
and opening show at once)."""
NO_SETS = "no pictures yet: the run writes them after each validation (samples/ in its run dir)"


def set_epoch(folder: Path, pictures: PictureSet | None) -> int | None:
    """The set's epoch: its index's, else the folder's name (epoch-0003)."""
    if pictures is not None and pictures.epoch is not None:
        return pictures.epoch
    tail = folder.name.removeprefix("epoch-")
    return int(tail) if tail.isdigit() else None


class SamplesPanel(Vertical):
    """The newest (or a chosen) set of samples with captions; `[` / `]` step through epochs."""

    DEFAULT_CSS = """
    SamplesPanel { padding: 0 1; }
    SamplesPanel > #samples-note { height: auto; color: $text-muted; }
    SamplesPanel > PictureGrid { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.folders: list[Path] = []
        self.index: int | None = None  # None: follow the newest set
        self.shown: tuple[Path, Layout] | None = None  # what the grid holds now
        self.reads = 0  # sets read (index.json), for tests and the benchmark
        self.builds = 0  # grids built (tiles drawn), for tests
        self._built_at = float("-inf")  # monotonic time of the last grid built
        self._pending: Timer | None = None  # a coalesced newer set, shown when it fires
        self._set: tuple[Path, PictureSet | None] | None = None
        self.border_title = "Samples"
        self.border_subtitle = HINT

    def compose(self) -> ComposeResult:
        """A note line (empty or missing sets) and the grid of tiles."""
        yield Static("", id="samples-note", markup=False)
        yield PictureGrid()

    @property
    def current(self) -> Path | None:
        """The folder on screen: the chosen one, else the newest."""
        if not self.folders:
            return None
        return self.folders[-1 if self.index is None else self.index]

    def show_folders(self, folders: list[Path]) -> None:
        """The run's sets, oldest first (the newest is shown unless the user stepped back)."""
        self.folders = list(folders)
        if self.index is not None and self.index >= len(self.folders):
            self.index = None
        wait = self._built_at + REFRESH_EVERY - time.monotonic()
        if self.index is None and self.shown is not None and wait > 0:
            if self._pending is None:  # the newest set then, whichever it is by that time
                self._pending = self.set_timer(wait, self._show_pending)
            return
        self.show_current()

    def _show_pending(self) -> None:
        self._pending = None
        self.show_current()

    def step(self, delta: int) -> None:
        """`[` (-1) an earlier epoch, `]` (+1) a later one; at the newest, follow it again."""
        if not self.folders:
            return
        last = len(self.folders) - 1
        at = last if self.index is None else self.index
        at = min(max(at + delta, 0), last)
        self.index = None if at == last else at
        self.show_current()

    def on_resize(self) -> None:
        """Another size: another grid."""
        self.show_current()

    def _read(self, folder: Path) -> PictureSet | None:
        if self._set is None or self._set[0] != folder:
            self.reads += 1
            self._set = (folder, read_set(folder))
        return self._set[1]

    def show_current(self) -> None:
        """Show the current set (rebuild the grid only when the set or its layout changed)."""
        if not self.is_mounted:
            return
        note = self.query_one("#samples-note", Static)
        grid = self.query_one(PictureGrid)
        folder = self.current
        if folder is None:
            self.border_title = "Samples"
            note.update(NO_SETS)
            note.display = True
            grid.remove_children()
            self.shown = None
            return
        pictures = self._read(folder)
        epoch = set_epoch(folder, pictures)
        newest = set_epoch(self.folders[-1], None) or len(self.folders)
        follow = "" if self.index is None else " · stepped back, ] for newer"
        self.border_title = f"Samples · epoch {epoch}/{newest}{follow}"
        if pictures is None or not pictures.pictures:
            note.update(f"{folder.name}: no readable pictures (index.json missing or empty)")
            note.display = True
            grid.remove_children()
            self.shown = None
            return
        mode = images_mode(self)
        pixels = None
        if mode != "none":
            pixels = pixel_size(tile(folder, pictures.pictures[0])) or (1, 1)
        note.display = False
        width, height = self.content_size
        grid_layout = layout(
            len(pictures.pictures), (width, height), pixels, image_mode.cell_aspect(mode)
        )
        if self.shown == (folder, grid_layout):
            return
        self.shown = (folder, grid_layout)
        self.builds += 1
        self._built_at = time.monotonic()
        grid.show(folder, pictures, pictures.pictures[: grid_layout.shown], grid_layout, mode)
        hidden = len(pictures.pictures) - grid_layout.shown
        self.border_subtitle = f"{hidden} more: widen the terminal · {HINT}" if hidden else HINT
