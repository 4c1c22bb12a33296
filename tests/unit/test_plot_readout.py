"""The plots' pointer readout and x zoom, as pure functions (issue 29)."""

from __future__ import annotations

import math

from textual.content import Content

from tui_trainer.tui.widgets.plot_readout import (
    Readout,
    Trace,
    clamp_view,
    hover_texts,
    nearest,
    subtitle_forms,
    value_label,
    visible_bounds,
    x_label,
    zoom_range,
)
from tui_trainer.tui.widgets.ticks import TickLabels

VAL = Trace([1.0, 2.0, 3.0], [0.9, 0.6, 0.5], "#00ff00", "val")


def test_nearest_point_and_nothing_outside_the_series() -> None:
    assert nearest(VAL, 1.4, 0.05) == 0
    assert nearest(VAL, 1.6, 0.05) == 1
    assert nearest(VAL, 3.04, 0.05) == 2  # within a column past the last point
    assert nearest(VAL, 0.5, 0.05) is None  # no validation before epoch 1
    assert nearest(VAL, 3.5, 0.05) is None
    assert nearest(Trace([], [], "red"), 1.0, 1.0) is None


def test_values_read_like_their_axis() -> None:
    assert value_label(0.41234, TickLabels()) == "0.412"
    assert value_label(0.9783, TickLabels(percent=True)) == "97.8%"
    assert value_label(math.log10(0.0251), TickLabels(log=True)) == "0.0251"
    assert value_label(2.5e-4, TickLabels()) == "2.5e-4"  # scientific, as the LR ticks
    assert x_label(3.0, TickLabels(), 0.07) == "3"  # an epoch's point
    assert x_label(2.4137, TickLabels(), 0.07) == "2.41"  # to a column's precision
    assert x_label(-3.0, TickLabels(log=True), 0.01) == "0.001"  # find-lr's log10(lr) axis
    assert value_label(0.9, TickLabels(percent=True)) == "90%"  # no trailing zeros


def test_hover_forms_go_from_named_to_short_and_say_zoomed() -> None:
    values = [("raw", "0.345", "#111111"), ("val", "0.750", "#222222")]
    forms = [Content.from_markup(f).plain for f in hover_texts("epoch", "2", values, False)]
    assert forms == ["epoch 2 raw 0.345 val 0.750", "epoch 2 0.345 0.750", "epoch 2 0.345"]
    zoomed = [Content.from_markup(f).plain for f in hover_texts("epoch", "2", values, True)]
    assert zoomed[0] == "epoch 2 raw 0.345 val 0.750 · zoomed: 0 resets"
    assert zoomed[-1] == "epoch 2 0.345"  # the narrowest panel drops it
    assert subtitle_forms(Readout(), "train 0.3") is None
    assert subtitle_forms(Readout(zoomed=True), "train 0.3") == [
        "train 0.3 · zoomed: 0 resets",
        "zoomed: 0 resets",
    ]


def test_zoom_keeps_the_point_under_the_pointer_and_clamps_to_the_data() -> None:
    view = zoom_range(None, (0.0, 10.0), 4.0, 0.5, 0.01)
    assert view == (2.0, 7.0)  # 4.0 stays 40% of the way across
    assert zoom_range(view, (0.0, 10.0), 4.0, 2.0, 0.01) is None  # back to everything
    assert zoom_range(None, (0.0, 10.0), 10.0, 0.5, 0.01) == (5.0, 10.0)
    assert zoom_range((0.0, 0.02), (0.0, 10.0), 0.01, 0.1, 0.01) == (0.005, 0.015)  # least
    assert zoom_range((8.0, 10.0), (0.0, 10.0), 9.5, 1.5, 0.01) == (7.0, 10.0)  # clamped
    assert clamp_view((8.0, 12.0), (0.0, 10.0)) == (6.0, 10.0)
    assert clamp_view((-1.0, 20.0), (0.0, 10.0)) is None


def test_visible_bounds_take_the_lines_where_they_cross_the_view() -> None:
    assert visible_bounds([VAL], 1.5, 2.5) == (0.55, 0.75)  # 0.6 inside; 0.75, 0.55 at the ends
    assert visible_bounds([VAL], 5.0, 6.0) is None
    assert visible_bounds([VAL, Trace([0.0, 4.0], [2.0, 2.0], "red")], 2.0, 3.0) == (0.5, 2.0)
