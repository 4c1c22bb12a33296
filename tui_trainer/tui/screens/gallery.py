"""The gallery of a set's worst mistakes, beside its confusion heatmap (classification).

Opened from the summary (`m`: the run's own `samples/mistakes`, or the mistakes of the eval
just run from its panel) and from the runs browser (`m`: `latest_mistakes` of the highlighted
run). Enter on a heatmap cell (or a click) shows only that cell's pictures; escape clears the
filter, then closes. With `--images none` the tiles are their captions and names only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, ScrollableContainer, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui_trainer.runlog.pictures import Picture, PictureSet, read_set, tile
from tui_trainer.tui.pictures import mode as image_mode
from tui_trainer.tui.pictures.tiles import Layout, gallery_layout
from tui_trainer.tui.widgets.confusion import ConfusionHeatmap
from tui_trainer.tui.widgets.picture_tile import PictureGrid, images_mode, pixel_size


def empty_cell_note(pictures: PictureSet) -> str:
    """What the gallery says for a cell none of whose pictures were kept."""
    return (
        "no pictures kept for this cell "
        f"(the set keeps the {len(pictures.pictures)} most confident mistakes)"
    )


def open_gallery(screen: Screen[Any], folder: Path | None, where: str) -> bool:
    """Push the gallery of `folder`'s set; without one, a one-line notice naming `where`
    (e.g. "this run") and False."""
    pictures = read_set(folder) if folder is not None else None
    if folder is None or pictures is None:
        screen.notify(f"No pictures of mistakes for {where} yet.", timeout=5)
        return False
    screen.app.push_screen(GalleryScreen(folder, pictures))
    return True


class PicturesScroll(VerticalScroll):
    """The gallery's scrolling pictures: a new size lays them out again."""

    def on_resize(self) -> None:
        """Another size (the first, or the terminal's): another grid."""
        screen = self.screen
        if isinstance(screen, GalleryScreen):
            self.call_after_refresh(screen.show_pictures)


class GalleryScreen(Screen[None]):
    """A set's pictures in a scrolling grid, filtered by a confusion cell."""

    DEFAULT_CSS = """
    GalleryScreen #gallery-rule { height: auto; color: $text-muted; padding: 0 1; }
    GalleryScreen #gallery-body { height: 1fr; }
    GalleryScreen #gallery-matrix {
        width: auto; min-width: 34; max-width: 60%; height: 1fr; padding: 0 1;
    }
    GalleryScreen #matrix-title { height: auto; text-style: bold; }
    GalleryScreen #matrix-scroll {
        height: auto; max-height: 1fr; width: auto; max-width: 100%; overflow: auto auto;
    }
    GalleryScreen #cell-info { height: auto; color: $text-muted; margin-top: 1; }
    GalleryScreen #gallery-pictures { width: 1fr; height: 1fr; }
    GalleryScreen #gallery-filter { height: auto; padding: 0 1; text-style: bold; }
    GalleryScreen #gallery-scroll { height: 1fr; padding: 0 1; }
    GalleryScreen.-narrow #gallery-body, GalleryScreen.-tiny #gallery-body { layout: vertical; }
    GalleryScreen.-narrow #gallery-matrix, GalleryScreen.-tiny #gallery-matrix {
        width: 1fr; max-width: 100%; height: auto; max-height: 45%;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / clear filter"),
        Binding("q", "app.quit", "Quit", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(self, folder: Path, pictures: PictureSet) -> None:
        super().__init__()
        self.folder = folder
        self.pictures = pictures
        self.cell: tuple[int, int] | None = None  # the confusion cell shown (None: all)
        self._shown: tuple[tuple[int, int] | None, Layout] | None = None

    @property
    def has_matrix(self) -> bool:
        """A classification set with its confusion matrix."""
        return self.pictures.task == "classification" and bool(self.pictures.confusion)

    def compose(self) -> ComposeResult:
        """Header, the set's rule, the heatmap (if any) beside the pictures, footer."""
        p = self.pictures
        what = "eval" if p.epoch is None else f"epoch {p.epoch}"
        with Horizontal(classes="screen-header"):
            yield Static(
                f"tui-trainer  ·  worst mistakes ({what})", classes="screen-title", markup=False
            )
        yield Static(f"{p.rule} · {self.folder}", id="gallery-rule", markup=False)
        with Horizontal(id="gallery-body"):
            if self.has_matrix and p.confusion is not None:
                with Vertical(id="gallery-matrix"):
                    yield Static(
                        "Confusion · rows true, columns predicted", id="matrix-title", markup=False
                    )
                    with ScrollableContainer(id="matrix-scroll"):
                        yield ConfusionHeatmap(p.confusion, p.class_names, id="heatmap")
                    yield Static("", id="cell-info", markup=False)
            with Vertical(id="gallery-pictures"):
                yield Static("", id="gallery-filter", markup=False)
                with PicturesScroll(id="gallery-scroll"):
                    yield PictureGrid()
        yield Footer()

    def on_mount(self) -> None:
        """Focus the heatmap (its arrow keys), describe its cell, lay out the pictures."""
        if self.has_matrix:
            heatmap = self.query_one(ConfusionHeatmap)
            heatmap.focus()
            self._describe(*heatmap.cursor)
        self.call_after_refresh(self.show_pictures)

    def shown(self) -> list[Picture]:
        """The pictures of the chosen cell, or all of them."""
        if self.cell is None:
            return list(self.pictures.pictures)
        return self.pictures.in_cell(*self.cell)

    def show_pictures(self) -> None:
        """Lay out the shown pictures for the scroll area's size (unchanged: nothing done)."""
        shown = self.shown()
        heading = self.query_one("#gallery-filter", Static)
        total = len(self.pictures.pictures)
        if self.cell is None:
            heading.update(f"{total} pictures, most confident first")
        elif shown:
            heatmap = self.query_one(ConfusionHeatmap)
            heading.update(f"{heatmap.describe(*self.cell)} · {len(shown)} kept · esc: all")
        else:
            heading.update(f"{empty_cell_note(self.pictures)} · esc: all")
        scroll = self.query_one("#gallery-scroll", VerticalScroll)
        if not scroll.content_size.area:  # not laid out yet: once it is
            self.call_after_refresh(self.show_pictures)
            return
        mode = images_mode(self)
        pixels = None
        if mode != "none" and self.pictures.pictures:
            pixels = pixel_size(tile(self.folder, self.pictures.pictures[0])) or (1, 1)
        width = max(scroll.content_size.width - 1, 1)  # a column for the scrollbar
        aspect = image_mode.cell_aspect(mode)
        grid = gallery_layout(len(shown), width, pixels, aspect, scroll.content_size.height)
        if self._shown == (self.cell, grid):
            return
        self._shown = (self.cell, grid)
        self.query_one(PictureGrid).show(self.folder, self.pictures, shown, grid, mode)

    def _describe(self, true_id: int, pred_id: int) -> None:
        heatmap = self.query_one(ConfusionHeatmap)
        kept = len(self.pictures.in_cell(true_id, pred_id))
        info = self.query_one("#cell-info", Static)
        kept_text = "1 picture" if kept == 1 else f"{kept} pictures"
        info.update(f"{heatmap.describe(true_id, pred_id)}\n{kept_text} kept · enter: show")

    @on(ConfusionHeatmap.CursorMoved)
    def _cursor_moved(self, event: ConfusionHeatmap.CursorMoved) -> None:
        self._describe(event.true_id, event.pred_id)

    @on(ConfusionHeatmap.CellChosen)
    def _cell_chosen(self, event: ConfusionHeatmap.CellChosen) -> None:
        self.cell = (event.true_id, event.pred_id)
        self.show_pictures()

    def action_back(self) -> None:
        """escape: clear the cell filter; without one, close the gallery."""
        if self.cell is not None:
            self.cell = None
            self.show_pictures()
            return
        self.dismiss()
