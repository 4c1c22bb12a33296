"""What a picture tile says (its caption) and how many tiles of what size fit a panel.

Pure functions: no widgets, no files (the tile's pixel size is passed in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual.content import Content

from tui_trainer.runlog.pictures import Picture

CAPTION_LINES = 2
"""Under each picture: its caption, then its image name (dimmed)."""
MIN_TILE_WIDTH = 17
"""A tile is never narrower than this many cells (room for "bird → bird 0.93")."""
MIN_IMAGE_HEIGHT = 4
"""... and its picture never lower than this many cells."""
GAP = 1
"""Blank cells between two tiles of a row."""


def caption(picture: Picture, task: str) -> Content:
    """The tile's first line: classification "true → pred 0.93" (green when right, red when
    wrong); segmentation "Dice 0.71"; detection "F1 0.50"."""
    style = "$text-success" if picture.correct else "$text-error"
    if task == "classification":
        text = f"{picture.true} → {picture.pred}"
        if picture.confidence is not None:
            text += f" {picture.confidence:.2f}"
        return Content.styled(text, style)
    label = {"segmentation": "Dice", "detection": "F1"}.get(task, "score")
    value = "n/a" if picture.score is None else f"{picture.score:.2f}"
    return Content.styled(f"{label} {value}", style)


def name_line(picture: Picture, width: int | None = None) -> Content:
    """The tile's second line: the image's name, dimmed; longer than `width`, its end (the
    file's own name) after an ellipsis."""
    name = picture.name
    if width is not None and len(name) > width:
        name = "…" + name[len(name) - max(width - 1, 0) :]
    return Content.styled(name, "$text-muted")


@dataclass(frozen=True)
class Layout:
    """Tiles in a grid: `columns` a row, `shown` of them in all, each `width` cells wide with a
    picture `image_height` cells high and the caption lines under it."""

    columns: int
    shown: int
    width: int
    image_height: int
    image_width: int = 0  # the picture's own width (≤ width: a cropped height keeps the shape)

    @property
    def tile_height(self) -> int:
        """The picture and its caption lines."""
        return self.image_height + CAPTION_LINES


def image_height(width: int, pixels: tuple[int, int], cell_aspect: float) -> int:
    """Cells of height that keep a `pixels` (w, h) picture's shape at `width` cells wide, where
    a cell is `cell_aspect` times as high as it is wide."""
    w, h = pixels
    if w <= 0 or h <= 0:
        return MIN_IMAGE_HEIGHT
    return max(1, round(width * h / w / cell_aspect))


def image_width(height: int, pixels: tuple[int, int], cell_aspect: float) -> int:
    """Cells of width that keep a `pixels` (w, h) picture's shape at `height` cells high."""
    w, h = pixels
    if w <= 0 or h <= 0:
        return MIN_TILE_WIDTH
    return max(1, round(height * cell_aspect * w / h))


def layout(
    count: int,
    space: tuple[int, int],
    pixels: tuple[int, int] | None,
    cell_aspect: float = 2.0,
) -> Layout:
    """The grid for `count` tiles in `space` (w, h cells): as many tiles as fit at a readable
    size, then the largest tiles that show that many. `pixels` None: captions only (no
    picture), one line of caption each."""
    width, height = space
    if count <= 0 or width <= 0 or height <= 0:
        return Layout(1, 0, max(width, 1), 0)
    best: tuple[float, int, int] | None = None
    chosen = Layout(1, 0, max(width, 1), 0)
    for columns in range(1, count + 1):
        tile_width = (width - GAP * (columns - 1)) // columns
        if tile_width < MIN_TILE_WIDTH and columns > 1:
            break
        for rows in range(1, math.ceil(count / columns) + 1):
            shown = min(count, columns * rows)
            if (rows - 1) * columns >= shown:
                break  # an empty last row: fewer rows do as well
            room = height // rows - CAPTION_LINES  # a picture's cells of height in this row
            picture, picture_width = 0, 0
            if pixels is not None:
                picture = min(image_height(tile_width, pixels, cell_aspect), room)
                picture_width = min(tile_width, image_width(picture, pixels, cell_aspect))
                if picture < MIN_IMAGE_HEIGHT and (columns > 1 or rows > 1):
                    break
            elif room < 0:
                break
            # more tiles, or bigger ones: twice the tiles weigh a little more than 4x the area
            area = max(picture_width * picture, 1) if pixels is not None else 1
            score = (shown * area**0.45, shown, -rows)  # captions only: fewer rows
            if best is None or score > best:
                best = score
                chosen = Layout(columns, shown, tile_width, picture, picture_width)
    return chosen


GALLERY_TILE = 22
"""A gallery tile's width to aim for (the gallery scrolls: every picture has a tile)."""


def gallery_layout(
    count: int,
    width: int,
    pixels: tuple[int, int] | None,
    cell_aspect: float = 2.0,
    height: int | None = None,
) -> Layout:
    """Every one of `count` tiles in rows `width` cells wide, about `GALLERY_TILE` cells each;
    a tile no higher than `height` (the visible rows: a picture's caption stays in view)."""
    columns = max(1, (width + GAP) // (GALLERY_TILE + GAP))
    tile_width = max(1, (width - GAP * (columns - 1)) // columns)
    if pixels is None:
        return Layout(columns, count, tile_width, 0)
    picture = image_height(tile_width, pixels, cell_aspect)
    limit = 2 * GALLERY_TILE // int(cell_aspect or 2)  # a tall picture: no taller than this
    if height is not None and height >= CAPTION_LINES + MIN_IMAGE_HEIGHT:
        limit = min(limit, height - CAPTION_LINES)
    picture = max(1, min(picture, limit))
    return Layout(
        columns,
        count,
        tile_width,
        picture,
        min(tile_width, image_width(picture, pixels, cell_aspect)),
    )
