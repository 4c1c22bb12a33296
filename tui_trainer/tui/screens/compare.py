"""The comparison view: two or more runs' curves overlaid, the config keys that differ, metrics.

A Screen of its own, fed with `RunRecord`s from `tui_trainer.runlog`, so `tui-trainer compare`
and the runs browser can both open it. Legend = run names, each run in its own colour.
Keys: `g` log-y for the loss plots, `0` resets a plot zoomed with the wheel, `q`/`escape` leaves.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plot import HiResMode

from tui_trainer.compare import diff_rows, metric_rows, short_labels
from tui_trainer.runlog import RunRecord
from tui_trainer.tui.breakpoints import NARROW
from tui_trainer.tui.curves import Curves, smooth, smoothing_weight
from tui_trainer.tui.widgets.plot_readout import RESET_KEY
from tui_trainer.tui.widgets.plots import RunPlot, y_scale
from tui_trainer.tui.widgets.pointer_plot import reset_zoom

RUN_COLOURS = ("primary", "warning", "success", "error", "accent", "secondary")
"""Theme colours given to runs in order (repeating after six)."""


class OverlayPlot(RunPlot):
    """One quantity for every run on shared axes (x: epochs); the wheel zooms the x range."""

    def __init__(self, kind: str, *, id: str | None = None) -> None:
        super().__init__(id=id, zoom=True)
        self.kind = kind  # "train" | "val" | "metric" | "lr"
        self.series: list[tuple[list[float], list[float]]] = []
        self.colours: list[str] = []
        self.extent = 1.0
        self.log_y = False

    def show(
        self, series: list[tuple[list[float], list[float]]], colours: list[str], extent: float
    ) -> None:
        """Draw one (xs, ys) line per run in the given colours."""
        self.series, self.colours, self.extent = series, colours, extent
        self._drawn = ()
        self.redraw()

    def redraw(self) -> None:
        """Draw every run's line on common axes."""
        key = (len(self.series), self.log_y, self.size)
        if key == self._drawn or not self.is_mounted:
            return
        self._drawn = key
        ys = [y for _, line in self.series for y in line]
        log, tr = y_scale(ys, self.log_y)
        self.clear()
        bounds = (min(tr(ys)), max(tr(ys))) if ys else (0.0, 1.0)
        if self.kind == "lr":
            bounds = (0.0, (bounds[1] or 1.0) * 1.05)
        self.axes((0.0, self.extent), bounds, log_y=log, pad=0.0 if self.kind == "lr" else 0.06)
        for (xs, line), colour in zip(self.series, self.colours, strict=True):
            if not xs:
                continue
            if len(xs) == 1:
                self.scatter(xs, tr(line), marker="◆", marker_style=colour)
            else:
                self.plot(xs, tr(line), line_style=colour, hires_mode=HiResMode.BRAILLE)
        self.drawn()


class CompareScreen(Screen[None]):
    """Runs side by side: overlaid curves with a legend, config diff, best/final metrics."""

    CSS_PATH = "compare.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "log_y", "Log-y loss"),
        Binding(RESET_KEY, "reset_zoom", "Reset zoom", show=False),
        Binding("q", "leave", "Back"),
        Binding("escape", "leave", "Back", show=False),
    ]

    def __init__(self, runs: list[RunRecord]) -> None:
        super().__init__()
        self.runs = runs
        self._legend_colours: list[str] | None = None  # each run's colour, once mounted
        self.curves = [
            Curves.from_records(r.records, r.planned_epochs, r.monitored[0]) for r in runs
        ]
        metric = self._metric_name() or "Metric"
        self._titles = {  # each plot's panel title: (wide, narrow)
            "train": ("Train loss (smoothed)", "Train loss"),
            "val": ("Validation loss", "Val loss"),
            "metric": (metric, metric.removeprefix("val_")),
            "lr": ("Learning rate", "LR"),
        }

    def compose(self) -> ComposeResult:
        """Header, legend, four plots, the two tables, footer."""
        with Horizontal(classes="screen-header"):
            yield Static(f"Compare {len(self.runs)} runs", classes="screen-title")
        yield Static(id="compare-legend")
        with Grid(id="compare-plots"):
            for kind in self._titles:
                with Vertical(id=f"compare-{kind}-panel", classes="panel compare-plot"):
                    yield OverlayPlot(kind, id=f"compare-{kind}")
        with Horizontal(id="compare-tables"):
            with Vertical(id="compare-diff-panel", classes="panel") as panel:
                panel.border_title = "Config: keys that differ"
                yield DataTable(id="compare-diff", cursor_type="row", zebra_stripes=True)
            with Vertical(id="compare-metrics-panel", classes="panel") as panel:
                panel.border_title = "Metrics"
                yield DataTable(id="compare-metrics", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        """Under `NARROW` columns the narrow layout applies (compare.tcss), with short titles."""
        narrow = event.size.width < NARROW
        self.set_class(narrow, "-narrow")
        for kind, (title, short) in self._titles.items():
            self.query_one(f"#compare-{kind}-panel").border_title = short if narrow else title
        self._show_legend(event.size.width)

    def _show_legend(self, width: int) -> None:
        """One entry per run: its full name where every one fits on the line, else the label
        its table column has (what tells the runs apart); wrapped rather than cut off."""
        colours = self._legend_colours
        if colours is None:  # not mounted yet
            return
        names = [run.name for run in self.runs]
        if sum(len(n) + 6 for n in names) > width - 2:  # "━━ " + name + "   ", the padding
            names = short_labels(names)
        legend = Text()
        for name, colour in zip(names, colours, strict=True):
            legend.append("━━ ", style=colour)
            legend.append(f"{name}   ")
        self.query_one("#compare-legend", Static).update(legend)

    def _metric_name(self) -> str | None:
        return next((c.metric_name for c in self.curves if c.metric_name), None)

    def _colours(self) -> list[str]:
        variables = self.app.get_css_variables()
        return [
            variables.get(RUN_COLOURS[i % len(RUN_COLOURS)], "white") for i in range(len(self.runs))
        ]

    def on_mount(self) -> None:
        """Fill the legend, the plots and the tables."""
        colours = self._colours()
        self._legend_colours = colours
        self._show_legend(self.size.width)
        self._draw(colours)
        # Column labels: the names without what they all share, in the legend's colours.
        labels = short_labels([run.name for run in self.runs])
        names = [Text(label, style=f"bold {c}") for label, c in zip(labels, colours, strict=True)]
        diff = self.query_one("#compare-diff", DataTable)
        diff.add_columns("key", *names)
        rows = diff_rows(self.runs)
        for key, cells in rows or [("(the configs are identical)", ["" for _ in names])]:
            diff.add_row(key, *cells)
        if not rows:  # nothing to show there: the metrics take the whole width
            self.query_one("#compare-diff-panel").display = False
            self.query_one("#compare-metrics-panel").border_subtitle = "the configs are identical"
        metrics = self.query_one("#compare-metrics", DataTable)
        metrics.add_columns("", *names)
        for label, cells in metric_rows(self.runs):
            metrics.add_row(label, *cells)

    def _draw(self, colours: list[str]) -> None:
        extent = max((c.x_extent() for c in self.curves), default=1.0)
        metric = self._metric_name()
        series = {
            "train": [
                (list(c.train.xs), smooth(c.train.ys, smoothing_weight(len(c.train))))
                for c in self.curves
            ],
            "val": [([x for x, _ in c.val_loss], [y for _, y in c.val_loss]) for c in self.curves],
            "metric": [
                ([x for x, _ in c.metric], [y for _, y in c.metric])
                if c.metric_name == metric
                else ([], [])
                for c in self.curves
            ],
            "lr": [(list(c.lr.xs), list(c.lr.ys)) for c in self.curves],
        }
        for kind, lines in series.items():
            self.query_one(f"#compare-{kind}", OverlayPlot).show(lines, colours, extent)

    def action_log_y(self) -> None:
        """g: log-y for both loss plots."""
        for kind in ("train", "val"):
            plot = self.query_one(f"#compare-{kind}", OverlayPlot)
            plot.log_y = not plot.log_y
            plot.redraw()

    def action_reset_zoom(self) -> None:
        """0: every plot shows its whole x range again."""
        reset_zoom(self)

    def action_leave(self) -> None:
        """q: back to where the view was opened from (or exit `tui-trainer compare`)."""
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit(0)
