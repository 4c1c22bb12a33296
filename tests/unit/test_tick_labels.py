"""Tick labels of the run screen's plots: short, exact enough, never '-0.0'."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tui_trainer.tui.widgets.ticks import (
    TickLabels,
    _label_spans,
    fitting_x_ticks,
    nice_ticks,
    tick_label,
)


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


@pytest.mark.parametrize("epochs", [1, 3, 7, 10, 12, 30, 80, 150, 300, 1000])
@pytest.mark.parametrize("width", [8, 9, 12, 17, 25, 40, 60])
def test_x_ticks_end_at_the_planned_epochs_and_never_run_together(epochs: int, width: int) -> None:
    """The right end is labelled whenever its label fits (it says how long the run is), and
    every label keeps a blank cell to its neighbours."""
    labels = TickLabels()
    ticks = fitting_x_ticks(0.0, float(epochs), width, labels)
    spans = _label_spans(ticks, labels.get_labels_for_ticks(ticks), 0.0, epochs, width)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in pairwise(spans)), ticks
    assert ticks == sorted(ticks) and all(float(t).is_integer() for t in ticks)
    if len(str(epochs)) + 2 <= width:  # "0" and the end's label side by side
        assert ticks[-1] == epochs and ticks[0] == 0, ticks
