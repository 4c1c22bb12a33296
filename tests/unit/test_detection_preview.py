"""The text picture of an image's boxes: true boxes light, predictions heavy, at their cells."""

from __future__ import annotations

import numpy as np

from tui_trainer.engine.tasks.detection.preview import class_tags, render_boxes


def _render(true_boxes, true_labels, pred_boxes, pred_labels, scores, names, size, cols):
    return render_boxes(
        size[0],
        size[1],
        np.array(true_boxes, dtype=np.float32).reshape(-1, 4),
        np.array(true_labels),
        np.array(pred_boxes, dtype=np.float32).reshape(-1, 4),
        np.array(pred_labels),
        np.array(scores),
        names,
        cols,
    )


def test_both_styles_at_the_right_cells() -> None:
    # 24 x 12 pixels in 24 columns: a cell is 1 pixel wide and 2 tall (6 lines)
    lines = _render(
        [[2, 0, 10, 8]], [0], [[12, 4, 22, 12]], [1], [0.75], ["cat", "dog"], (24, 12), 24
    )
    assert lines == [
        "··┌c─────┐··············",
        "··│······│··············",
        "··│······│··┏━━━━━━━━┓··",
        "··└──────┘··┃········┃··",
        "············┃········┃··",
        "············┗d .75━━━┛··",
        "┌┐ true  ┏┓ predicted",
        "c cat  d dog",
    ]


def test_a_prediction_over_its_true_box_shows_both_tags() -> None:
    lines = _render([[0, 0, 16, 8]], [1], [[0, 0, 16, 8]], [1], [0.5], ["a", "b"], (16, 8), 16)
    assert lines[:4] == [
        "┏b━━━━━━━━━━━━━┓",
        "┃··············┃",
        "┃··············┃",
        "┗b .50━━━━━━━━━┛",
    ]


def test_small_boxes_and_tags_that_do_not_fit() -> None:
    # one cell (true), one line (prediction), a narrow box keeps only its tag
    lines = _render(
        [[0, 0, 1, 1], [10, 0, 14, 8]],
        [0, 0],
        [[4, 4, 8, 5], [10, 0, 14, 8]],
        [0, 0],
        [0.9, 0.8],
        ["x"],
        (16, 8),
        16,
    )
    assert lines[0][0] == "□"
    assert lines[2][4:8] == "━x━━"  # a one-line box, its tag inside
    assert lines[3][10:14] == "┗x━┛"  # "x .80" does not fit in 2 cells: the tag alone


def test_tags_are_numbers_when_initials_clash() -> None:
    assert class_tags([0, 1], ["cat", "car"]) == {0: "0", 1: "1"}
    assert class_tags([1, 0, 1], ["cat", "dog"]) == {0: "c", 1: "d"}
    lines = _render([[0, 0, 8, 8]], [1], [[8, 0, 16, 8]], [0], [0.5], ["cat", "car"], (16, 8), 16)
    assert lines[0] == "┌1─────┐┏━━━━━━┓"
    assert lines[-1] == "0 cat  1 car"
    alone = _render([[0, 0, 8, 8]], [1], [], [], [], ["cat", "car"], (16, 8), 16)
    assert alone[0].startswith("┌c")  # distinct among the classes drawn


def test_lines_never_wider_than_cols() -> None:
    names = [f"a_very_long_class_name_{i}" for i in range(6)]
    boxes = [[i * 10, 0, i * 10 + 9, 30] for i in range(6)]
    lines = _render(boxes, range(6), boxes, range(6), [0.5] * 6, names, (60, 30), 20)
    assert all(len(line) <= 20 for line in lines)
    assert len(lines[0]) == 20
