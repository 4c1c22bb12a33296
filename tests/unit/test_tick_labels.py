"""Tick labels of the run screen's plots: short, exact enough, never '-0.0'."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tui_trainer.tui.widgets.plots import nice_ticks, tick_label


@pytest.mark.parametrize(
    ("value", "step", "label"),
    [
        (0.0, 0.5, "0"),
        (-0.03, 0.5, "0"),  # rounds to zero at this precision: no "-0.0"
        (-0.0004, 1.0, "-4e-4"),
        (2.5, 0.5, "2.5"),
        (2.0, 1.0, "2"),
        (0.05, 0.01, "0.05"),
        (250000.0, 50000.0, "2.5e5"),
    ],
)
def test_tick_label(value: float, step: float, label: str) -> None:
    assert tick_label(value, step) == label


def test_nice_ticks_are_round_and_inside_the_range() -> None:
    ticks = nice_ticks(0.013, 2.31, 4)
    assert ticks[0] >= 0.013 and ticks[-1] <= 2.31
    steps = {round(b - a, 9) for a, b in pairwise(ticks)}
    assert len(steps) == 1 and steps.pop() in {0.5, 1.0}
