"""The export check's matching of exported detections to PyTorch's (detect_export.compare):
order among near-equal scores and the cap's cut through equal scores are not differences;
a moved box, another label or another count is."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trainer.after.detect_export import BOX_ATOL, compare
from tui_trainer.after.export import ExportMismatch


def dets(rows: list[tuple[float, int, tuple[float, float, float, float]]]):
    boxes = np.array([r[2] for r in rows], np.float32).reshape(-1, 4)
    scores = np.array([r[0] for r in rows], np.float32)
    labels = np.array([r[1] for r in rows], np.int64)
    return boxes, scores, labels


EXPECTED = dets(
    [
        (0.9, 1, (0, 0, 10, 10)),
        (0.5, 2, (5, 5, 20, 20)),
        (0.5 + 1e-7, 1, (30, 30, 40, 40)),  # near-equal score: either order is PyTorch's too
        (0.2, 3, (1, 1, 2, 2)),  # the lowest score: the cap may keep another one instead
        (0.2, 3, (3, 3, 4, 4)),
    ]
)


def test_reordered_near_ties_and_the_caps_cut_are_a_match():
    got = dets(
        [
            (0.9, 1, (0, 0, 10, 10.001)),
            (0.5 + 1e-7, 1, (30, 30, 40, 40)),
            (0.5, 2, (5, 5, 20, 20)),
            (0.2, 3, (7, 7, 8, 8)),  # other detections at the floor score
            (0.2, 3, (1, 1, 2, 2)),
        ]
    )
    assert compare([got], [EXPECTED]) == pytest.approx(0.001, abs=1e-4)


@pytest.mark.parametrize(
    ("row", "change"),
    [(0, {"box": (0, 0, 10, 10 + 10 * BOX_ATOL)}), (1, {"label": 3}), (1, {"score": 0.6})],
)
def test_a_moved_box_another_label_or_score_is_a_mismatch(row, change):
    rows = [(0.9, 1, (0, 0, 10, 10)), (0.5, 2, (5, 5, 20, 20)), (0.2, 3, (1, 1, 2, 2))]
    score, label, box = rows[row]
    rows[row] = (change.get("score", score), change.get("label", label), change.get("box", box))
    expected = dets([(0.9, 1, (0, 0, 10, 10)), (0.5, 2, (5, 5, 20, 20)), (0.2, 3, (1, 1, 2, 2))])
    with pytest.raises(ExportMismatch, match="no match"):
        compare([dets(rows)], [expected])


def test_another_count_is_a_mismatch():
    with pytest.raises(ExportMismatch, match="finds 4 box"):
        compare([dets([(0.9, 1, (0, 0, 1, 1))] * 4)], [EXPECTED])
