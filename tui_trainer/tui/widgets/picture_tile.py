"""One picture of a set with its caption and image name, and a grid of them.

The picture is drawn by textual-image in the console's image mode (`tui.pictures.mode`); in
mode `none`, or when the tile's PNG is missing, only the caption and name are shown.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widget import Widget
from textual.widgets import Static

from tui_trainer.runlog.pictures import Picture, PictureSet, tile
from tui_trainer.tui.pictures import mode as image_mode
from tui_trainer.tui.pictures.tiles import GAP, Layout, caption, name_line


def images_mode(widget: Widget) -> str:
    """The app's image mode (halfblock | sixel | kitty | none); none for an app without one."""
    return str(getattr(widget.app, "images", "none"))


def pixel_size(path: Path | None) -> tuple[int, int] | None:
    """A PNG's (width, height) from its header, None when it cannot be read."""
    if path is None:
        return None
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None


class PictureTile(Vertical):
    """A picture (when drawn), its caption, its name."""

    DEFAULT_CSS = """
    PictureTile { height: auto; width: 1fr; }
    PictureTile > .tile-line { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    PictureTile.-chosen { background: $boost; }
    """

    def __init__(
        self,
        folder: Path,
        picture: Picture,
        task: str,
        image_size: tuple[int, int],
        mode: str,
        width: int | None = None,
    ) -> None:
        super().__init__()
        self.tile_width = width  # cells: a longer image name shows its end
        self.folder = folder
        self.picture = picture
        self.set_task = task
        self.image_size = image_size  # (width, height) cells; (0, 0): no picture
        self.mode = mode

    def compose(self) -> ComposeResult:
        """The picture (if any), then the caption and the name."""
        path = tile(self.folder, self.picture)
        width, height = self.image_size
        image_class = image_mode.widget_class(self.mode)
        if image_class is not None and width and height:
            if path is None:
                missing = Static("(picture missing)", classes="tile-missing")
                missing.styles.height = height
                yield missing
            else:
                image = image_class(str(path), classes="tile-image")
                image.styles.width = width
                image.styles.height = height
                yield image
        yield Static(caption(self.picture, self.set_task), classes="tile-line tile-caption")
        yield Static(name_line(self.picture, self.tile_width), classes="tile-line tile-name")


class PictureGrid(Grid):
    """Tiles of one set laid out by a `Layout`."""

    DEFAULT_CSS = """
    PictureGrid { height: auto; grid-gutter: 0 1; }
    """

    def show(
        self, folder: Path, pictures: PictureSet, shown: list[Picture], grid: Layout, mode: str
    ) -> None:
        """Replace the tiles with `shown` (of `pictures`, in `folder`) laid out by `grid`."""
        self.styles.grid_size_columns = max(1, grid.columns)
        self.styles.grid_columns = str(grid.width)
        self.styles.grid_rows = str(grid.tile_height)
        self.styles.grid_gutter_vertical = GAP
        self.remove_children()
        size = (grid.image_width or grid.width, grid.image_height) if mode != "none" else (0, 0)
        self.mount_all(PictureTile(folder, p, pictures.task, size, mode, grid.width) for p in shown)
