"""One finished (or dead) run from the runs browser: its curves, summary, per-class report, config.

The plots are the run screen's (`LossPanel`, `MetricPanel`, `LRPanel`) fed with `Curves` read from
metrics.jsonl, so a run looks the same here as while it trained. The run is read in a thread
worker (a long run's history is large). Keys: replay, resume, watch, log-y, back.
"""

from __future__ import annotations

from typing import ClassVar

import yaml
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui_trainer.runlog import Status
from tui_trainer.tui import runs_view as rv
from tui_trainer.tui.screens.run_actions import LAUNCH_BINDINGS, launch
from tui_trainer.tui.widgets.plot_panels import LossPanel, LRPanel, MetricPanel
from tui_trainer.tui.widgets.plot_readout import RESET_KEY
from tui_trainer.tui.widgets.pointer_plot import reset_zoom
from tui_trainer.tui.widgets.state_badge import StateBadge

BADGES = {Status.COMPLETED: "finished"}
"""Badge names that differ from the status (a run without a summary is `Status.DIED`)."""


def summary_content(opened: rv.OpenedRun) -> Content:
    """The summary rows as `key  value` lines."""
    rows = rv.summary_rows(opened)
    width = max(len(label) for label, _ in rows if label != "run dir") + 2
    lines = [
        Content.assemble((label.ljust(width if label != "run dir" else 9), "$text-muted"), value)
        for label, value in rows
    ]
    summary = opened.record.summary
    command = summary.get("replay_command") if summary else None
    if command:
        lines.append(
            Content.assemble(("replay".ljust(9), "$text-muted"), (command, "bold $accent"))
        )
    return Content("\n").join(lines)


class RunDetailScreen(Screen[None]):
    """A run's curves, summary, per-class report and config; `r`/`u`/`w` act on it."""

    CSS_PATH = "runs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        *LAUNCH_BINDINGS,
        Binding("g", "log_y", "Log-y"),
        Binding(RESET_KEY, "reset_zoom", "Reset zoom", show=False),
        Binding("escape,b", "back", "Back"),
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark,f1", "app.help", "Help", key_display="?", show=False),
    ]

    def __init__(self, run_dir: str, out: str | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.out = out
        self.opened: rv.OpenedRun | None = None

    def compose(self) -> ComposeResult:
        """Header, the three plots, then summary / report / config, footer."""
        with Horizontal(classes="screen-header"):
            yield Static(self.run_dir, id="detail-title", classes="screen-title", markup=False)
            yield StateBadge("starting", id="detail-state")
        with Horizontal(id="detail-plots"):
            yield LossPanel(id="loss-panel", classes="panel")
            yield MetricPanel(id="metric-panel", classes="panel")
            yield LRPanel(id="lr-panel", classes="panel")
        with VerticalScroll(id="detail-info"), Horizontal(id="detail-columns"):
            with Vertical(id="detail-left"):
                summary = Static("reading the run…", id="detail-summary", classes="panel")
                summary.border_title = "Summary"
                yield summary
                config = Static("", id="detail-config", classes="panel", markup=False)
                config.border_title = "Config"
                yield config
            report = Static("", id="detail-report", classes="panel", markup=False)
            report.border_title = "Per-class report"
            yield report
        yield Footer()

    def on_mount(self) -> None:
        """Read the run in a thread."""
        self.query_one("#detail-report").display = False
        self.query_one("#detail-info").focus()
        self.load()

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load(self) -> None:
        """Worker thread: read config, history and summary, then show them."""
        opened = rv.open_run(self.run_dir)
        self.app.call_from_thread(self._show, opened)

    def _show(self, opened: rv.OpenedRun) -> None:
        self.opened = opened
        rec = opened.record
        self.query_one("#detail-title", Static).update(f"{opened.name}  ·  run")
        self.query_one(StateBadge).set_state(BADGES.get(rec.status, str(rec.status)))
        for panel in (LossPanel, MetricPanel, LRPanel):
            self.query_one(panel).show(opened.curves)
        summary = self.query_one("#detail-summary", Static)
        summary.update(summary_content(opened))
        if opened.warning:
            summary.border_subtitle = "damaged lines skipped"
            self.notify(opened.warning, severity="warning", timeout=10)
        report = self.query_one("#detail-report", Static)
        report.update(opened.report.rstrip())
        report.display = bool(opened.report.strip())
        text = yaml.safe_dump(rec.config, sort_keys=False, width=1000).rstrip()
        self.query_one("#detail-config", Static).update(text or "(no config.yaml)")

    def action_reset_zoom(self) -> None:
        """0: every plot shows its whole x range again (after zooming with the wheel)."""
        reset_zoom(self)

    def action_log_y(self) -> None:
        """g: log y axis for the loss plot."""
        if self.opened is not None:
            self.query_one(LossPanel).toggle_log_y()

    def action_back(self) -> None:
        """escape: back to the runs list."""
        self.dismiss()

    def action_launch(self, what: str, background: bool = False) -> None:
        """r / u / w (R / U: in the background) for this run."""
        launch(self, self.run_dir, what, background, self.out)
