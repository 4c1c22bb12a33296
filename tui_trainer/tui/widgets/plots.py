"""Plots with axes for the run screen and the comparison view, built on textual-plot.

`PlotWidget` draws the axes, ticks and braille lines; these subclasses choose what to draw from a
`Curves` and how to label it: tick values placed by `nice_ticks` and written short by
`TickLabels` (both in `ticks.py`), a compact mode (min/max ticks, no margins) for small panels
such as 80x24, log-y for the loss. Colours come from component classes, so run.tcss and the
theme set them. They redraw only when `show` is called with data they have not drawn yet.
The pointer's readout and the wheel's x zoom come from `PointerPlot` (`pointer_plot.py`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual import events
from textual.app import RenderResult
from textual.reactive import reactive
from textual_hires_canvas import Canvas
from textual_plot import HiResMode, PlotWidget

from tui_trainer import formatting as fmt
from tui_trainer.formatting import is_percent
from tui_trainer.tui.curves import Curves, XYSeries, smooth, smoothing_weight
from tui_trainer.tui.widgets.plot_readout import Trace
from tui_trainer.tui.widgets.pointer_plot import PointerPlot
from tui_trainer.tui.widgets.ticks import (
    TickLabels,
    fitting_x_ticks,
    log_ticks,
    nice_ticks,
)

COMPACT_HEIGHT = 7
"""Plots shorter than this (in rows) label only the y axis' ends and drop the top margin."""

BEST_MARKER = "◆"

PART_COLOURS = ("$accent 60%", "$error 60%", "$secondary 70%", "$foreground 45%")
"""The loss parts' colours (dimmed, under the total), in order; more parts reuse them. The
component classes `run-plot--part-N` hold the same colours (the panel titles' legend uses these)."""

PART_CLASSES = tuple(f"run-plot--part-{i}" for i in range(len(PART_COLOURS)))

MARGIN_SLACK = 2
"""The y labels' margin shrinks only when that many columns or more are spare (each change
re-lays the whole screen out, which costs the UI thread more than the plot itself)."""


class RunPlot(PointerPlot, can_focus=False):
    """A PlotWidget that labels its axes itself and adapts its margins to its size.

    Not focusable (the run screen's keys stay the run's); `zoom=True` lets the wheel zoom its
    x range (the run's curves and the comparison view); the pointer's readout is always on.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "plot--axis",
        "plot--tick",
        "plot--label",
        "run-plot--raw",
        "run-plot--main",
        "run-plot--second",
        "run-plot--best",
        "run-plot--planned",
        "run-plot--other",
        *PART_CLASSES,
    }

    DEFAULT_CSS = """
    RunPlot {
        & > .plot--axis { color: $panel-lighten-3; }
        & > .plot--tick { color: $text-muted; text-style: none; }
        & > .run-plot--raw { color: $primary 45%; }
        & > .run-plot--main { color: $primary; }
        & > .run-plot--second { color: $success; }
        & > .run-plot--best { color: $warning; text-style: bold; }
        & > .run-plot--planned { color: $accent 45%; }
        & > .run-plot--other { color: $accent; }
        & > .run-plot--part-0 { color: $accent 60%; }
        & > .run-plot--part-1 { color: $error 60%; }
        & > .run-plot--part-2 { color: $secondary 70%; }
        & > .run-plot--part-3 { color: $foreground 45%; }
    }
    """

    margin_top = reactive(0)  # no axis titles: the panel's title says what is plotted
    margin_bottom = reactive(1)  # the x tick labels

    def __init__(
        self, *, id: str | None = None, classes: str | None = None, zoom: bool = False
    ) -> None:
        super().__init__(id=id, classes=classes, zoom=zoom)
        self._drawn: tuple[object, ...] = ()
        self._exact_margin = True  # the next draw fits the margin exactly (new size or mode)
        self._log_drawn = False
        self._limits = (0.0, 1.0, 0.0, 1.0)  # x0, x1, y0, y1 on screen
        self._options = (False, 0.06, False)  # the last `axes`' log_y, pad, percent

    def style_of(self, component: str) -> str:
        """A component class's colour as a Rich style string (what textual-plot takes); a
        translucent colour (`$primary 45%`) is blended over the background, i.e. dimmed."""
        styles = self.get_component_styles(component)
        colour = self.background_colors[1] + styles.color
        bold = " bold" if styles.text_style.bold else ""
        return f"{colour.hex}{bold}"

    @property
    def compact(self) -> bool:
        """True in small panels: only the y axis' ends are labelled."""
        return self.size.height < COMPACT_HEIGHT

    def render(self) -> RenderResult:
        """textual-plot draws into its canvases here; each canvas is marked for repaint once
        at the end rather than after every cell it sets (thousands of refresh calls)."""
        with contextlib.ExitStack() as batch:
            for canvas in self.query(Canvas):
                batch.enter_context(canvas.batch_refresh())
            return super().render()

    def on_resize(self, _event: events.Resize) -> None:
        """Ticks depend on the size: draw again."""
        self.refit()

    def refit(self) -> None:
        """Draw again now, the y margin fitted exactly to the labels (as after a resize): while
        data comes in it only shrinks with room to spare, so it depends on the redraws so far."""
        self._drawn = ()
        self._exact_margin = True
        self.redraw()

    def redraw(self) -> None:
        """Draw the current data (subclasses keep what to draw)."""

    def axes(
        self,
        x: tuple[float, float],
        y: tuple[float, float],
        log_y: bool = False,
        pad: float = 0.06,
        percent: bool = False,
    ) -> None:
        """Set both axes' limits and ticks for the current size; widen the left margin to fit.

        The y range grows by `pad` of its span at both ends, so no point sits on the frame,
        but never below 0 when no value is negative (a loss or an accuracy has no -0.1).
        `percent` labels the y ticks as percentages, and such an axis never passes 100%.
        While zoomed, the view keeps its x range and `drawn` fits its y range to it.
        """
        self._options = (log_y, pad, percent)
        self.set_axes(x, y)

    def apply_axes(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        """Both axes' limits and ticks for these ranges (see `axes`)."""
        log_y, pad, percent = self._options
        (x0, x1), (y0, y1) = x, y
        floor = 0.0 if y0 >= 0 and not log_y else -math.inf
        ceiling = 1.0 if percent and y1 <= 1.0 else math.inf
        if y1 - y0 <= abs(y1) * 1e-9 or y1 <= y0:
            y0, y1 = y0 - (abs(y1) * 0.05 or 1.0), y1 + (abs(y1) * 0.05 or 1.0)
        y0, y1 = max(y0 - (y1 - y0) * pad, floor), min(y1 + (y1 - y0) * pad, ceiling)
        height = max(self.size.height, 4)
        rows = max(height - self.margin_bottom - 2, 1)
        ends = self.compact
        if ends:
            yticks = [y0, y1]
        elif log_y:
            yticks = log_ticks(y0, y1, max(2, rows // 2))
        else:
            for count in range(max(2, rows // 2), max(2, rows) + 1):
                yticks = nice_ticks(y0, y1, count)  # a short plot: a finer step if need be
                if len(yticks) >= 2:
                    break
        if len(yticks) < 2:
            yticks, ends = [y0, y1], True
        labels_y = TickLabels(log=log_y, step=(y1 - y0) / 10 if ends else None, percent=percent)
        labels_x = TickLabels()
        self.set_x_formatter(labels_x)
        self.set_y_formatter(labels_y)
        self.set_yticks(yticks)
        longest = max((len(s) for s in labels_y.get_labels_for_ticks(yticks)), default=1)
        wanted, exact = longest + 2, self._exact_margin or log_y != self._log_drawn
        self._exact_margin, self._log_drawn = False, log_y
        # A margin change re-lays the screen out: while data comes in, grow at once and shrink
        # only by MARGIN_SLACK or more; after a resize or a log-y toggle, fit exactly.
        grow, spare = wanted > self.margin_left, wanted <= self.margin_left - MARGIN_SLACK
        if grow or spare or (exact and wanted != self.margin_left):
            self.margin_left = wanted
            self.refresh(layout=True)  # the canvases take their new widths before drawing
        canvas = max(self.size.width - self.margin_left, 8)  # the plot canvas: the x ticks' room
        least = 1.0 if self.view is None else 0.0  # whole epochs, unless zoomed in
        self.set_xticks(fitting_x_ticks(x0, x1, canvas, labels_x, least))
        self.set_xlimits(x0, x1)
        self.set_ylimits(y0, y1)
        self._limits = (x0, x1, y0, y1)

    def inside(self, x: float, y: float) -> tuple[float, float]:
        """A point on the axes' far edges moved just inside them: textual-plot maps x = xmax
        (the last epoch) and y = ymax one cell past its canvas, so a marker or a lone point
        there would not show (a point beyond them, out of a zoomed view, stays out)."""
        (x0, x1), (y0, y1) = self.shown_x, self._limits[2:]
        ex, ey = (x1 - x0) * 1e-6, (y1 - y0) * 1e-6
        return (x1 - ex if x1 - ex < x <= x1 + ex else x), (y1 - ey if y1 - ey < y <= y1 else y)

    def line(
        self, xs: Sequence[float], ys: Sequence[float], component: str, name: str = ""
    ) -> None:
        """A braille line in a component class's colour (a single point draws as a dot);
        `name` says which it is in the pointer's readout."""
        if not xs:
            return
        style = self.style_of(component)
        self.record(Trace(xs, ys, style, name, component in PART_CLASSES))
        if len(xs) == 1:
            x, y = self.inside(xs[0], ys[0])
            PlotWidget.scatter(self, [x], [y], hires_mode=HiResMode.BRAILLE, marker_style=style)
        else:
            PlotWidget.plot(self, xs, ys, hires_mode=HiResMode.BRAILLE, line_style=style)

    def mark(self, x: float, y: float, component: str = "run-plot--best") -> None:
        """A full-cell marker (the best epoch; on the last epoch too, see `inside`); not a
        series of its own in the readout."""
        x, y = self.inside(x, y)
        style = self.style_of(component)
        PlotWidget.scatter(self, [x], [y], marker=BEST_MARKER, marker_style=style)


def y_scale(ys: Sequence[float], log_y: bool) -> tuple[bool, Callable[[list[float]], list[float]]]:
    """Whether the y axis is logarithmic (asked for, and every value positive: log-y is
    ignored otherwise) and the map of values onto that axis."""
    log = log_y and bool(ys) and min(ys) > 0

    def tr(values: list[float]) -> list[float]:
        return [math.log10(v) for v in values] if log else values

    return log, tr


def part_line(series: XYSeries, log: bool) -> tuple[list[float], list[float]]:
    """A loss part's smoothed line (as the total's), only its positive points on a log axis."""
    ys = smooth(list(series.ys), smoothing_weight(len(series)))
    points = [(x, y) for x, y in zip(series.xs, ys, strict=True) if y > 0 or not log]
    return [x for x, _ in points], [y for _, y in points]


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    return (min(values), max(values)) if values else (0.0, 1.0)


class CurvesPlot(RunPlot):
    """A RunPlot of one run's `Curves`, redrawn only when they (or its size) changed."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, zoom=True)
        self.curves = Curves()

    def show(self, curves: Curves) -> None:
        """Draw `curves` (only if they changed since the last draw)."""
        self.curves = curves
        self.redraw()

    def draw_key(self) -> tuple[object, ...]:
        """What the drawing depends on; the same key as last time means nothing to redraw.

        By default every change of the curves; a plot whose picture changes less often (once
        an epoch, once a pixel column) says so with a coarser key, which saves the redraw."""
        return (id(self.curves), self.curves.version, self.size)

    @property
    def current(self) -> bool:
        """True when the plot shows what its curves would draw now."""
        return self.is_mounted and self._drawn == self.draw_key()

    def redraw(self) -> None:
        """Draw the curves on their axes if the key changed."""
        key = self.draw_key()
        if key == self._drawn or not self.is_mounted:
            return
        self.draw(self.curves)
        self.drawn()
        self._drawn = self.draw_key()  # after: drawing may widen the margin the key uses

    def draw(self, c: Curves) -> None:
        """Draw `c` (each plot's own part; it clears the axes first)."""
        raise NotImplementedError


class LossPlot(CurvesPlot):
    """Train loss per step (raw, faint; smoothed), validation loss per epoch, best epoch marked;
    a detector's loss parts (smoothed, dimmed) under them."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.log_y = False

    def show(self, curves: Curves, log_y: bool | None = None) -> None:
        """Draw `curves` (only if they changed since the last draw), on a log y axis or not."""
        if log_y is not None:
            self.log_y = log_y
        super().show(curves)

    def draw_key(self) -> tuple[object, ...]:
        """The curves, the size and the y scale."""
        return (*super().draw_key(), self.log_y)

    def draw(self, c: Curves) -> None:
        """Draw the loss curves on their axes."""
        raw_x, raw_y = list(c.train.xs), list(c.train.ys)
        smoothed = smooth(raw_y, smoothing_weight(len(raw_y)))
        val_x = [x for x, _ in c.val_loss]
        val_y = [y for _, y in c.val_loss]
        ys = [*raw_y, *val_y]
        log, tr = y_scale(ys, self.log_y)
        parts = [part_line(series, log) for series in c.parts.values()]
        self.clear()
        self.axes(
            (0.0, c.x_extent()), _bounds(tr([*ys, *(y for p in parts for y in p[1])])), log_y=log
        )
        for i, ((xs, part_y), name) in enumerate(zip(parts, c.parts, strict=True)):
            part = fmt.loss_part_label(name)
            self.line(xs, tr(part_y), PART_CLASSES[i % len(PART_CLASSES)], part)
        self.line(raw_x, tr(raw_y), "run-plot--raw", "raw")
        self.line(raw_x, tr(smoothed), "run-plot--main", "smoothed")
        self.line(val_x, tr(val_y), "run-plot--second", "val")
        best = dict(c.val_loss).get(float(c.best_epoch)) if c.best_epoch else None
        if best is not None and (best > 0 or not log):
            self.mark(float(c.best_epoch or 0), tr([best])[0])


class MetricPlot(CurvesPlot):
    """The task metric per epoch (validation accuracy, Dice, mAP, ...), the best epoch marked;
    a second metric of the task (IoU beside Dice, mAP50 beside mAP) in its own colour."""

    def draw_key(self) -> tuple[object, ...]:
        """The metrics change once an epoch: the steps in between leave this plot as it is."""
        c = self.curves
        last = c.metric[-1] if c.metric else None
        other = c.second[-1] if c.second else None
        return (id(c), len(c.metric), last, other, c.best_epoch, c.x_extent(), self.size)

    def draw(self, c: Curves) -> None:
        """Draw the metrics on their axes (the main one last: on top)."""
        xs, ys = [x for x, _ in c.metric], [y for _, y in c.metric]
        xs2, ys2 = [x for x, _ in c.second], [y for _, y in c.second]
        self.clear()
        percent = is_percent(c.metric_name or "", ys) and is_percent(c.second_name or "acc", ys2)
        self.axes((0.0, c.x_extent()), _bounds([*ys, *ys2]), percent=percent)
        self.line(xs2, ys2, "run-plot--other", fmt.metric_label(c.second_name or ""))
        self.line(xs, ys, "run-plot--second", fmt.metric_label(c.metric_name or ""))
        value = dict(c.metric).get(float(c.best_epoch)) if c.best_epoch else None
        if value is not None:
            self.mark(float(c.best_epoch or 0), value)


def lr_top(c: Curves, ahead: list[tuple[float, float]] | None = None) -> float:
    """The top of the LR plot's data: the highest LR applied or still planned (1.0 if none)."""
    planned = c.plan_ahead() if ahead is None else ahead
    return max([*c.lr.ys, *(y for _, y in planned)], default=1.0) or 1.0


class LRPlot(CurvesPlot):
    """The learning rate applied so far, and the schedule's planned remainder dimmed."""

    def draw_key(self) -> tuple[object, ...]:
        """What its braille dots can show: the run's progress in dot columns, the latest LR
        in dot rows of the current y range, the plan (a new list when it changes) and the
        series' merges. Steps that stay inside the same dot change nothing on screen."""
        c = self.curves
        top = lr_top(c)
        dots_x = max(self.size.width - self.margin_left, 1) * 2
        dots_y = max(self.size.height - self.margin_bottom - 2, 1) * 4
        x = math.floor(c.progress / (self.shown_x[1] - self.shown_x[0] or 1.0) * dots_x)
        y = math.floor(c.lr.ys[-1] / top * dots_y) if c.lr.ys else None
        return (id(c), x, y, top, id(c.plan), c.lr.merges, c.x_extent(), self.size)

    def draw(self, c: Curves) -> None:
        """Draw measured and planned LR; the y axis starts at 0 so a constant LR reads as such."""
        ahead = c.plan_ahead()
        top = lr_top(c, ahead)
        self.clear()
        self.axes((0.0, c.x_extent()), (0.0, top * 1.05), pad=0.0)
        self.line([x for x, _ in ahead], [y for _, y in ahead], "run-plot--planned", "plan")
        self.line(list(c.lr.xs), list(c.lr.ys), "run-plot--main", "lr")
