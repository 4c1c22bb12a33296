"""A textual-plot `PlotWidget` that reads out the values under the mouse pointer and zooms its x
range with the wheel.

textual-plot's own pan and zoom (both axes, wheel down zooms in, drag pans, keys on a focused
plot) is turned off: the wheel here zooms the x range only, around the pointer (up narrows,
down widens, clamped to the data), the y axis follows what the view shows, new data keeps the
view, and `RESET_KEY` on the screen resets it (`reset_zoom`). The readout (x, and each series'
y at its point nearest the pointer) goes to the parent panel: a `ReadoutHost` chooses where
it fits; any other parent shows it in its border subtitle, restored when the pointer leaves.
Nothing here runs while the mouse is idle: only mouse events and redraws update the readout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike
from textual import events
from textual.content import Content
from textual.dom import DOMNode
from textual.widget import Widget
from textual_hires_canvas import Canvas, HiResMode
from textual_plot import PlotWidget

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

ZOOM_STEP = 0.8
"""One wheel step up shows this fraction of the x range; one step down undoes it."""

LEAST_VIEW = 1e-3
"""The narrowest view, as a fraction of the whole x range."""

BORDER_FRAME = 6
"""Border columns around a subtitle: `╰─ ` before it and ` ─╯` after it."""


@runtime_checkable
class ReadoutHost(Protocol):
    """A plot's parent that shows its readout itself (the run screen's plot panels)."""

    def show_readout(self, readout: Readout) -> None:
        """Show `readout` (an empty one: the panel's own values again)."""


def _floats(values: ArrayLike) -> Sequence[float]:
    return values if isinstance(values, list) else np.asarray(values, dtype=float).tolist()


class PointerPlot(PlotWidget):
    """A PlotWidget with a pointer readout and x-only wheel zoom (`zoom=False`: readout only).

    Subclasses draw with `plot`/`scatter` (each series is kept as a `Trace` for the readout;
    `record` names one), give the data's ranges to `set_axes`, set limits and ticks for the
    ranges on screen in `apply_axes`, and call `drawn` at the end of every draw."""

    x_name: ClassVar[str] = "epoch"
    """What the x axis counts, said before the x value in the readout."""

    def __init__(
        self, *, id: str | None = None, classes: str | None = None, zoom: bool = False
    ) -> None:
        super().__init__(id=id, classes=classes, allow_pan_and_zoom=False)
        self.zoomable = zoom
        self.view: tuple[float, float] | None = None  # the zoomed x range; None: all of it
        self.full_x = (0.0, 1.0)  # the x range of the data (the last `set_axes`)
        self._full_y: tuple[float, float] | None = None  # the y range of the data
        self.traces: list[Trace] = []
        self._pointer: int | None = None  # the pointer's screen column while over the plot
        self._saved_subtitle: str | None = None  # a plain parent's own subtitle, while shown

    # --- what was drawn --------------------------------------------------------------

    def clear(self) -> None:
        """Clear the plot and its traces."""
        super().clear()
        self.traces = []

    def record(self, trace: Trace) -> None:
        """Keep a series the plot draws for the readout and the zoomed y range."""
        self.traces.append(trace)

    def plot(
        self,
        x: ArrayLike,
        y: ArrayLike,
        line_style: str = "white",
        hires_mode: HiResMode | None = None,
        label: str | None = None,
    ) -> None:
        """Draw a line (kept as a trace, unnamed: its colour tells it)."""
        self.record(Trace(_floats(x), _floats(y), line_style))
        super().plot(x, y, line_style=line_style, hires_mode=hires_mode, label=label)

    def scatter(
        self,
        x: ArrayLike,
        y: ArrayLike,
        marker: str = "o",
        marker_style: str = "white",
        hires_mode: HiResMode | None = None,
        label: str | None = None,
    ) -> None:
        """Draw points (kept as a trace, unnamed)."""
        self.record(Trace(_floats(x), _floats(y), marker_style))
        super().scatter(x, y, marker, marker_style, hires_mode=hires_mode, label=label)

    # --- the view ----------------------------------------------------------------------

    @property
    def shown_x(self) -> tuple[float, float]:
        """The x range on screen: the zoomed view or the whole data."""
        return self.view or self.full_x

    def set_axes(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        """The data's x and y ranges: the axes show them, or while zoomed the view (kept,
        clamped to the new data: new data does not reset it), its y range fitted in `drawn`."""
        self.full_x, self._full_y = x, y
        if self.view is not None:
            self.view = clamp_view(self.view, x)
        if self.view is None:
            self.apply_axes(x, y)
        else:
            self.set_xlimits(*self.view)

    def apply_axes(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        """Set limits and ticks for these ranges (subclasses label their axes here)."""
        self.set_xlimits(*x)
        self.set_ylimits(*y)

    def fit_view(self) -> None:
        """The axes for the x range on screen; a zoomed view's y range is what it shows."""
        if self._full_y is None:
            return
        x, y = self.shown_x, self._full_y
        if self.view is not None:
            y = visible_bounds(self.traces, *x) or y
        self.apply_axes(x, y)

    def drawn(self) -> None:
        """After a draw: a zoomed view fitted to the new data, the readout brought up to date
        (both only while zoomed or hovered: otherwise nothing to do)."""
        if self.view is not None:
            self.fit_view()
        if self._pointer is not None:
            self.show_readout()

    def set_view(self, view: tuple[float, float] | None) -> None:
        """Show the x range `view` (None: all of it), the y axis fitted to what it shows."""
        if view == self.view:
            return
        self.view = view
        self.fit_view()
        self.show_readout()

    def reset_zoom(self) -> None:
        """Show the whole x range again."""
        self.set_view(None)

    # --- the pointer -------------------------------------------------------------------

    def _column_span(self) -> float:
        return (self._x_max - self._x_min) / max(self._scale_rectangle.width, 1)

    def _x_at(self, screen_x: int) -> float | None:
        """The data x under screen column `screen_x` (None over the y labels)."""
        canvas = self.query_one("#plot", Canvas)
        column = screen_x - canvas.region.x
        rect = self._scale_rectangle
        if column < 0 or column >= canvas.region.width or rect.width <= 0:
            return None
        column = min(max(column, rect.x), rect.right - 1)
        return self.get_coordinate_from_pixel(column, rect.y)[0]

    def on_mouse_move(self, event: events.MouseMove) -> None:
        """The pointer moved over the plot: read out the values under it."""
        self._pointer = event.screen_x
        self.show_readout()

    def on_leave(self, event: events.Leave) -> None:
        """The pointer left the plot (not just one of its parts): clear the readout."""
        over = self.app.mouse_over
        if over is not None and (over is self or self in over.ancestors):
            return
        self._pointer = None
        self.show_readout()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        """Wheel up: a narrower x range around the pointer."""
        self._wheel(event, ZOOM_STEP)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        """Wheel down: a wider x range, up to the whole data."""
        self._wheel(event, 1 / ZOOM_STEP)

    def _wheel(self, event: events.MouseEvent, factor: float) -> None:
        event.stop()
        event.prevent_default()  # textual-plot's own zoom (both axes) stays off
        if not self.zoomable:
            return
        a, b = self.shown_x
        at = self._x_at(event.screen_x)
        lo, hi = self.full_x
        where = (a + b) / 2 if at is None else at
        self.set_view(zoom_range(self.view, self.full_x, where, factor, (hi - lo) * LEAST_VIEW))

    # --- the readout -------------------------------------------------------------------

    def hover(self) -> tuple[str, ...]:
        """The readout's forms for the pointer's column (empty when there is none)."""
        x = None if self._pointer is None else self._x_at(self._pointer)
        if x is None:
            return ()
        step = self._column_span()
        found = [
            (trace, i)
            for trace in sorted(self.traces, key=lambda t: t.part)
            if (i := nearest(trace, x, step)) is not None
        ]
        if not found:
            return ()
        snapped = min((t.xs[i] for t, i in found), key=lambda v: abs(v - x))
        values = [(t.name, value_label(t.ys[i], self._y_formatter), t.style) for t, i in found]
        x_text = x_label(snapped, self._x_formatter, step)
        return hover_texts(self.x_name, x_text, values, self.view is not None)

    def show_readout(self) -> None:
        """Hand the readout to the parent panel (or show it in a plain parent's subtitle)."""
        readout = Readout(self.hover(), self.view is not None)
        host = self.parent
        if isinstance(host, ReadoutHost):
            host.show_readout(readout)
        elif isinstance(host, Widget):
            self._show_in_border(host, readout)

    def _show_in_border(self, host: Widget, readout: Readout) -> None:
        """A plain parent: its subtitle shows the readout, and its own again after."""
        if readout.hover or readout.zoomed:
            if self._saved_subtitle is None:
                self._saved_subtitle = str(host.border_subtitle or "")
            forms = subtitle_forms(readout, self._saved_subtitle) or [self._saved_subtitle]
            host.border_subtitle = fitting(forms, host)
        elif self._saved_subtitle is not None:
            host.border_subtitle = self._saved_subtitle
            self._saved_subtitle = None


def fitting(forms: Sequence[str], widget: Widget) -> str:
    """The first of `forms` (markup, longest first) that fits in `widget`'s border (the last
    when none does, the first before the widget has a size)."""
    room = widget.outer_size.width - BORDER_FRAME
    if widget.outer_size.width <= 0:
        return forms[0]
    return next((f for f in forms if Content.from_markup(f).cell_length <= room), forms[-1])


def reset_zoom(screen: DOMNode) -> None:
    """Reset every zoomed plot on `screen` (the screens' `RESET_KEY` action)."""
    for plot in screen.query(PointerPlot):
        plot.reset_zoom()
