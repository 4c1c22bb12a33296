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


class LossPanel(Vertical):
    """Train loss (raw, smoothed) and validation loss; `g` toggles log-y."""

    def compose(self) -> ComposeResult:
        """The loss plot."""
        self.border_title = (
            "Loss [$primary 45%]raw[/] [$primary]smoothed[/] [$success]val[/]"
            f" [$warning]{BEST_MARKER}best[/]"
        )
        yield LossPlot(id="loss-plot")

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
            parts.append(f"train {fmt.loss(smooth(recent, smoothing_weight(len(c.train)))[-1])}")
        if c.val_loss:
            parts.append(f"val {fmt.loss(c.val_loss[-1][1])}")
        if self.query_one(LossPlot).log_y:
            parts.append("log-y")
        self.border_subtitle = " · ".join(parts)


class MetricPanel(Vertical):
    """The task metric per epoch with the best epoch marked."""

    def compose(self) -> ComposeResult:
        """The metric plot."""
        self.border_title = "Metric"
        yield MetricPlot(id="metric-plot")

    def show(self, curves: Curves) -> None:
        """Draw `curves`' metric and name the best epoch."""
        self.query_one(MetricPlot).show(curves)
        name = curves.metric_name
        if name:
            self.border_title = fmt.metric_label(name)
        if name and curves.best_epoch is not None:
            value = dict(curves.metric).get(float(curves.best_epoch))
            self.border_subtitle = (
                f"[$warning]{BEST_MARKER}[/] {fmt.metric(name, value)} @ {curves.best_epoch}"
            )
        elif curves.metric:
            self.border_subtitle = fmt.metric(name or "", curves.metric[-1][1])


class LRPanel(Vertical):
    """The learning rate so far and the planned remainder (dimmed)."""

    def compose(self) -> ComposeResult:
        """The LR plot."""
        self.border_title = "LR [$primary]applied[/] [$accent 45%]planned[/]"
        yield LRPlot(id="lr-plot")

    def show(self, curves: Curves) -> None:
        """Draw `curves`' LR and the current value."""
        self.query_one(LRPlot).show(curves)
        if curves.lr.ys:
            self.border_subtitle = fmt.lr(curves.lr.ys[-1])
