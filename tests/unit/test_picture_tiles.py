"""Pure parts of pictures in the console: tile captions, how many tiles of what size fit a
panel or a gallery row, and the heatmap's colours and labels."""

from __future__ import annotations

from textual.content import Content

from tui_trainer.runlog.pictures import Picture
from tui_trainer.tui.pictures.tiles import (
    CAPTION_LINES,
    MIN_TILE_WIDTH,
    caption,
    gallery_layout,
    layout,
    name_line,
)
from tui_trainer.tui.widgets.confusion import BASE, RIGHT, WRONG, abbreviate, cell_colour, rates


def pic(**kw: object) -> Picture:
    base: dict[str, object] = {"file": "000.png", "position": 0, "name": "a/b/cat_001.png"}
    return Picture(**{**base, "correct": True, **kw})  # type: ignore[arg-type]


def style_of(content: Content) -> str:
    return str(content.spans[0].style)


def test_captions_per_task() -> None:
    right = caption(pic(true="cat", pred="cat", confidence=0.934), "classification")
    wrong = caption(pic(correct=False, true="cat", pred="dog", confidence=0.5), "classification")
    assert (right.plain, style_of(right)) == ("cat → cat 0.93", "$text-success")
    assert (wrong.plain, style_of(wrong)) == ("cat → dog 0.50", "$text-error")
    assert caption(pic(score=0.714), "segmentation").plain == "Dice 0.71"
    assert caption(pic(score=0.5, correct=False), "detection").plain == "F1 0.50"
    assert caption(pic(score=None), "segmentation").plain == "Dice n/a"


def test_a_long_name_keeps_its_end() -> None:
    assert name_line(pic(), 40).plain == "a/b/cat_001.png"
    assert name_line(pic(), 10).plain == "…t_001.png"
    assert style_of(name_line(pic())) == "$text-muted"


def test_the_tiles_fit_the_panel_and_keep_the_pictures_shape() -> None:
    for count, space, pixels in [
        (12, (76, 11), (32, 32)),
        (12, (72, 20), (32, 32)),
        (8, (76, 11), (96, 32)),
        (16, (116, 30), (32, 32)),
        (1, (20, 5), (32, 32)),
    ]:
        grid = layout(count, space, pixels)
        rows = -(-grid.shown // grid.columns)
        assert 1 <= grid.shown <= count
        assert grid.columns * grid.width + (grid.columns - 1) <= space[0]
        assert rows * grid.tile_height <= space[1]
        assert grid.width >= MIN_TILE_WIDTH or grid.columns == 1
        # half-blocks: a cell is two pixels high, so a square picture is twice as wide as high
        w, h = pixels
        assert abs(grid.image_width * h / (2 * grid.image_height) - w) <= w / grid.image_height


def test_a_wide_terminal_shows_all_and_a_narrow_one_fewer() -> None:
    assert layout(12, (116, 30), (32, 32)).shown == 12
    assert layout(12, (76, 11), (32, 32)).shown < 12


def test_captions_only_use_columns() -> None:
    grid = layout(6, (78, 12), None)
    assert grid.shown == 6 and grid.columns > 1 and grid.tile_height == CAPTION_LINES


def test_the_gallery_shows_every_tile_in_rows() -> None:
    grid = gallery_layout(9, 100, (32, 32))
    assert grid.shown == 9 and grid.columns == 4 and grid.image_height > 0
    assert gallery_layout(3, 10, None).columns == 1


def test_heatmap_colours_and_labels() -> None:
    assert rates([[3, 1], [0, 0]]) == [[0.75, 0.25], [0.0, 0.0]]
    assert cell_colour(0.0, True) == BASE and cell_colour(0.0, False) == BASE
    assert cell_colour(1.0, True) == RIGHT and cell_colour(1.0, False) == WRONG
    assert cell_colour(0.5, True) != cell_colour(0.5, False)  # distinct hues
    assert abbreviate("airplane", 4) == "air…" and abbreviate("cat", 4) == "cat"
