"""The run screen's plot panels: a plot plus a title that keys its colours and a live readout.

Each panel is a bordered container (`.panel`) holding one plot from `plots.py`; its border title
names what is drawn (with the colours used), its subtitle shows the latest values. `show` is the
only entry point, called with the run's `Curves` at the screen's chart rate.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from tui_trainer import formatting as fmt
from tui_trainer.tui.curves import SMOOTHING_SPAN, Curves, smooth, smoothing_weight
from tui_trainer.tui.widgets.plots import BEST_MARKER, LossPlot, LRPlot, MetricPlot


class PlotPanel(Vertical):
    """A panel whose border title and subtitle change only when their text does (setting one
    re-parses its markup and repaints the panel, even with the same text)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._title_text: str | None = None
        self._subtitle_text: str | None = None

    def label(self, title: str | None = None, subtitle: str | None = None) -> None:
        """Show `title` and/or `subtitle` (None: leave it as it is)."""
        if title is not None and title != self._title_text:
            self._title_text = title
            self.border_title = title
        if subtitle is not None and subtitle != self._subtitle_text:
            self._subtitle_text = subtitle
            self.border_subtitle = subtitle


LOSS_TITLE = (
    "Loss [$primary 45%]raw[/] [$primary]smoothed[/] [$success]val[/]"
    f" [$warning]{BEST_MARKER}best[/]"
)
LOSS_TITLE_SHORT = f"Loss [$primary 45%]raw[/] [$success]val[/] [$warning]{BEST_MARKER}best[/]"
COMPACT_WIDTH = 33
"""Loss panels narrower than this, borders included (the runs browser's detail at 80x24), get
the short title and values without the word "train", so neither is cut off."""


class LossPanel(PlotPanel):
    """Train loss (raw, smoothed) and validation loss; `g` toggles log-y."""

    def compose(self) -> ComposeResult:
        """The loss plot."""
        self.label(title=LOSS_TITLE)
        yield LossPlot(id="loss-plot")

    @property
    def compact(self) -> bool:
        """True when the panel is too narrow for the long title and labels."""
        return 0 < self.outer_size.width < COMPACT_WIDTH

    def on_resize(self) -> None:
        """The title and values fit the new width."""
        self.label(title=LOSS_TITLE_SHORT if self.compact else LOSS_TITLE)
        self._subtitle(self.query_one(LossPlot).curves)

    def show(self, curves: Curves) -> None:
        """Draw `curves` and the latest values."""
        plot = self.query_one(LossPlot)
        plot.show(curves)
        self._subtitle(curves)

    def toggle_log_y(self) -> bool:
        """Switch the y axis between linear and log; returns True when log is now on."""
        plot = self.query_one(LossPlot)
        plot.show(plot.curves, log_y=not plot.log_y)
        self._subtitle(plot.curves)
        return plot.log_y

    def _subtitle(self, c: Curves) -> None:
        parts = []
        if c.train.ys:
            recent = c.train.ys[-SMOOTHING_SPAN:]
            train = fmt.loss(smooth(recent, smoothing_weight(len(c.train)))[-1])
            parts.append(train if self.compact else f"train {train}")
        if c.val_loss:
            parts.append(f"val {fmt.loss(c.val_loss[-1][1])}")
        if self.query_one(LossPlot).log_y:
            parts.append("log-y")
        self.label(subtitle=" · ".join(parts))


class MetricPanel(PlotPanel):
    """The task metric per epoch with the best epoch marked."""

    def compose(self) -> ComposeResult:
        """The metric plot."""
        self.label(title="Metric")
        yield MetricPlot(id="metric-plot")

    def show(self, curves: Curves) -> None:
        """Draw `curves`' metric and name the best epoch."""
        self.query_one(MetricPlot).show(curves)
        name = curves.metric_name
        if name:
            self.label(title=fmt.metric_label(name))
        if name and curves.best_epoch is not None:
            best = fmt.metric(name, dict(curves.metric).get(float(curves.best_epoch)))
            self.label(subtitle=f"[$warning]{BEST_MARKER}[/] {best} @ {curves.best_epoch}")
        elif curves.metric:
            self.label(subtitle=fmt.metric(name or "", curves.metric[-1][1]))


class LRPanel(PlotPanel):
    """The learning rate so far and the planned remainder (dimmed)."""

    def compose(self) -> ComposeResult:
        """The LR plot."""
        self.label(title="LR [$primary]applied[/] [$accent 45%]planned[/]")
        yield LRPlot(id="lr-plot")

    def show(self, curves: Curves) -> None:
        """Draw `curves`' LR and the current value."""
        self.query_one(LRPlot).show(curves)
        if curves.lr.ys:
            self.label(subtitle=fmt.lr(curves.lr.ys[-1]))
