"""The run screen's plot panels: a plot plus a title that keys its colours and a live readout.

Each panel is a bordered container (`.panel`) holding one plot from `plots.py`; its border title
names what is drawn (with the colours used), its subtitle shows the latest values, or while the
mouse pointer is over the plot the values under it (and that the plot is zoomed, while it is).
`show` is the only entry point, called with the run's `Curves` at the screen's chart rate.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content

from tui_trainer import formatting as fmt
from tui_trainer.tui.curves import SMOOTHING_SPAN, Curves, smooth, smoothing_weight
from tui_trainer.tui.widgets.plot_readout import Readout, subtitle_forms
from tui_trainer.tui.widgets.plots import (
    BEST_MARKER,
    PART_COLOURS,
    LossPlot,
    LRPlot,
    MetricPlot,
)

TITLE_FRAME = 6
"""Border columns around a panel's title: `╭─ ` before it and ` ─╮` after it."""


class PlotPanel(Vertical):
    """A panel whose border title and subtitle change only when their text does (setting one
    re-parses its markup and repaints the panel, even with the same text), and get shorter
    forms below `COMPACT_BELOW` columns (borders included) instead of being cut off."""

    COMPACT_BELOW: ClassVar[int] = 0

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._title_text: str | None = None
        self._subtitle_text: str | None = None  # what the subtitle shows
        self._values: str | None = None  # the latest values (the subtitle without a readout)
        self._readout = Readout()

    @property
    def compact(self) -> bool:
        """True when the panel is too narrow for the long title and values."""
        return 0 < self.outer_size.width < self.COMPACT_BELOW

    def on_resize(self) -> None:
        """The title and values fit the new width."""
        self.relabel()

    def show(self, curves: Curves) -> None:
        """Plot this panel's part of `curves`."""
        raise NotImplementedError

    def relabel(self) -> None:
        """Show the title and values of what the plot shows, for the current width."""

    def fitting(self, candidates: list[str]) -> str:
        """The first of `candidates` (markup, longest first) whose text fits in the border at
        the panel's width (the first before the panel has a size, the last when none fits)."""
        room = self.outer_size.width - TITLE_FRAME
        if self.outer_size.width <= 0:
            return candidates[0]
        fits = (c for c in candidates if Content.from_markup(c).cell_length <= room)
        return next(fits, candidates[-1])

    def label(self, title: str | None = None, subtitle: str | None = None) -> None:
        """Show `title` and/or `subtitle` (None: leave it as it is)."""
        if title is not None and title != self._title_text:
            self._title_text = title
            self.border_title = title
        if subtitle is not None:
            self._values = subtitle
            self._show_subtitle()

    def show_readout(self, readout: Readout) -> None:
        """The plot's pointer readout (an empty one: the latest values again)."""
        self._readout = readout
        self._show_subtitle()

    def _show_subtitle(self) -> None:
        forms = subtitle_forms(self._readout, self._values)
        subtitle = self._values if forms is None else self.fitting(forms)
        if subtitle is not None and subtitle != self._subtitle_text:
            self._subtitle_text = subtitle
            self.border_subtitle = subtitle


LOSS_TITLE = (
    "Loss [$primary 45%]raw[/] [$primary]smoothed[/] [$success]val[/]"
    f" [$warning]{BEST_MARKER}best[/]"
)
LOSS_TITLE_SHORT = f"Loss [$primary 45%]raw[/] [$success]val[/] [$warning]{BEST_MARKER}best[/]"
LOSS_TITLE_TINY = f"Loss [$primary]train[/] [$success]val[/] [$warning]{BEST_MARKER}[/]"
LOSS_TITLE_NARROW = f"Loss [$success]val[/] [$warning]{BEST_MARKER}[/]"
"""The shorter heads of a detector's loss title, whose parts' legend follows (80x24)."""


def parts_legend(names: list[str]) -> str:
    """The loss parts' legend: each part's short name in its colour (see `PART_COLOURS`)."""
    return " ".join(
        f"[{PART_COLOURS[i % len(PART_COLOURS)]}]{fmt.loss_part_label(name)}[/]"
        for i, name in enumerate(names)
    )


def loss_titles(parts: list[str]) -> list[str]:
    """The loss panel's titles with a legend of `parts`, longest first."""
    legend = parts_legend(parts)
    heads = (LOSS_TITLE, LOSS_TITLE_SHORT, LOSS_TITLE_TINY, LOSS_TITLE_NARROW, "Loss")
    return [f"{head} {legend}" for head in heads]


LR_TITLE = "LR [$primary]applied[/] [$accent 45%]planned[/]"
LR_TITLE_SHORT = "LR [$primary]now[/] [$accent 45%]plan[/]"


class LossPanel(PlotPanel):
    """Train loss (raw, smoothed) and validation loss; `g` toggles log-y. Below 33 columns (the
    runs browser's detail at 80x24) the short title, and values without the word "train"."""

    COMPACT_BELOW = 33

    def compose(self) -> ComposeResult:
        """The loss plot."""
        self.label(title=LOSS_TITLE)
        yield LossPlot(id="loss-plot")

    def show(self, curves: Curves) -> None:
        """Draw `curves` and the latest values."""
        self.query_one(LossPlot).show(curves)
        self.relabel()

    def toggle_log_y(self) -> bool:
        """Switch the y axis between linear and log; returns True when log is now on."""
        plot = self.query_one(LossPlot)
        plot.show(plot.curves, log_y=not plot.log_y)
        self.relabel()
        return plot.log_y

    def relabel(self) -> None:
        """The title; the latest smoothed train loss and validation loss; log-y when on."""
        plot = self.query_one(LossPlot)
        c, parts = plot.curves, []
        if c.train.ys:
            recent = c.train.ys[-SMOOTHING_SPAN:]
            train = fmt.loss(smooth(recent, smoothing_weight(len(c.train)))[-1])
            parts.append(train if self.compact else f"train {train}")
        if c.val_loss:
            parts.append(f"val {fmt.loss(c.val_loss[-1][1])}")
        if plot.log_y:
            parts.append("log-y")
        if c.parts:  # a detector's: its loss parts in the legend, as much title as fits
            self.label(title=self.fitting(loss_titles(list(c.parts))))
        else:
            self.label(title=LOSS_TITLE_SHORT if self.compact else LOSS_TITLE)
        self.label(subtitle=" · ".join(parts))


def metric_titles(main: str, second: str) -> list[str]:
    """The metric panel's titles for two metrics, each in its plot colour, longest first:
    ``val mAP mAP50`` (a shared `val` said once), then without it."""
    a, b = fmt.metric_label(main), fmt.metric_label(second)
    head, _, rest = a.partition(" ")
    shared = rest and b.startswith(f"{head} ")
    short = (rest, b.removeprefix(f"{head} ")) if shared else (a, b)
    pair = f"[$success]{short[0]}[/] [$accent]{short[1]}[/]"
    return [f"{head} {pair}", pair] if shared else [pair]


class MetricPanel(PlotPanel):
    """The task metric per epoch with the best epoch marked (its epoch named when there is
    room: below 20 columns, as in the 60x20 layout, the best value only); a second metric of
    the task (mAP50 beside mAP) in its own colour, the title keying both."""

    COMPACT_BELOW = 20

    def compose(self) -> ComposeResult:
        """The metric plot."""
        self.label(title="Metric")
        yield MetricPlot(id="metric-plot")

    def show(self, curves: Curves) -> None:
        """Draw `curves`' metric and name the best epoch."""
        self.query_one(MetricPlot).show(curves)
        self.relabel()

    def relabel(self) -> None:
        """The metric's name; the best value and its epoch, or the latest value."""
        curves = self.query_one(MetricPlot).curves
        name, second = curves.metric_name, curves.second_name
        if name and second:
            self.label(title=self.fitting(metric_titles(name, second)))
        elif name:
            self.label(title=fmt.metric_label(name))
        if name and curves.best_epoch is not None:
            best = fmt.metric(name, dict(curves.metric).get(float(curves.best_epoch)))
            where = "" if self.compact else f" @ {curves.best_epoch}"
            self.label(subtitle=f"[$warning]{BEST_MARKER}[/] {best}{where}")
        elif curves.metric:
            self.label(subtitle=fmt.metric(name or "", curves.metric[-1][1]))


class LRPanel(PlotPanel):
    """The learning rate so far and the planned remainder (dimmed); below 24 columns the
    title says `LR now plan`."""

    COMPACT_BELOW = 24

    def compose(self) -> ComposeResult:
        """The LR plot."""
        self.label(title=LR_TITLE)
        yield LRPlot(id="lr-plot")

    def show(self, curves: Curves) -> None:
        """Draw `curves`' LR and the current value."""
        self.query_one(LRPlot).show(curves)
        self.relabel()

    def relabel(self) -> None:
        """The title and the current LR."""
        self.label(title=LR_TITLE_SHORT if self.compact else LR_TITLE)
        curves = self.query_one(LRPlot).curves
        if curves.lr.ys:
            self.label(subtitle=fmt.lr(curves.lr.ys[-1]))
