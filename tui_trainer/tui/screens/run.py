"""The run screen: training in a thread worker, progress, charts, metrics, GPU, log, keys.

Events travel training thread → `EventBridge` → one `RunUpdate` message → `RunModel` → only the
widgets whose part changed. Draws are at most `MAX_FPS` a second and never block the trainer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from tui_trainer import formatting as fmt
from tui_trainer.config import RunConfig
from tui_trainer.runlog.control import StopMode
from tui_trainer.runlog.events import RunFinished
from tui_trainer.tui.alerts import ring
from tui_trainer.tui.breakpoints import NARROW
from tui_trainer.tui.bridge import EventBridge, RunUpdate
from tui_trainer.tui.budget import RedrawBudget
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.screens.run_pictures import PicturesScreen
from tui_trainer.tui.screens.summary import SummaryScreen
from tui_trainer.tui.sources import LocalRun, RunSource, failed_run
from tui_trainer.tui.widgets.epoch_table import EpochTable
from tui_trainer.tui.widgets.plot_panels import LossPanel, LRPanel, MetricPanel
from tui_trainer.tui.widgets.plot_readout import RESET_KEY
from tui_trainer.tui.widgets.pointer_plot import reset_zoom
from tui_trainer.tui.widgets.progress import RunProgress
from tui_trainer.tui.widgets.run_log import RunLog
from tui_trainer.tui.widgets.state_badge import StateBadge
from tui_trainer.tui.widgets.time_bar import TimeBar

MAX_FPS = 10
"""Upper bound on redraws per second while training (events arrive ~4/s from the engine)."""

DRAW_BUDGET = 0.004
"""Progress, table and log redraws use at most this share of the UI thread's core (see
`tui.budget`; the cost is the code and the frame that paints it): ≈2.5-5 ms each at 120x40 on
the 2-core test machine, so about one a second there, up to `MAX_FPS` where they cost less."""

DRAW_CEILING = 1.0
"""Progress is redrawn at least this often (seconds), whatever a redraw cost."""

CHART_INTERVAL = 1.0
"""The shortest time in seconds between two redraws of the charts and their current values."""

CHART_BUDGET = 0.008
"""While a run is active, chart redraws use at most this share of the UI thread's core (see
`tui.budget`; the cost is the plots' frame and their canvases' frame): a redraw of the three
plots at 120x40 costs ≈20-30 ms on the 2-core test machine, so they redraw about every 3 s
there, every second on a faster CPU or a smaller terminal. A run's end is drawn at once."""

CHART_CEILING = 5.0
"""The charts are redrawn at least this often (seconds) while their data changes."""

Executor = Callable[..., RunFinished]
"""`tui_trainer.session.execute` or a stand-in with the same signature."""


@dataclass(frozen=True)
class RunRequest:
    """Everything needed to start one run."""

    config: RunConfig
    preset: str
    overrides: list[str] = field(default_factory=list)
    out: str | None = None
    resume: str | None = None  # a run directory or checkpoint to continue


class RunScreen(PicturesScreen):
    """Watch and steer one training run."""

    class Ended(Message):
        """The run finished (however it ended); the app shows the summary or exits."""

        def __init__(self, run_screen: RunScreen, result: RunFinished) -> None:
            super().__init__()
            self.run_screen = run_screen
            self.result = result

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),
        Binding("c", "checkpoint", "Checkpoint"),
        Binding("s", "stop", "Stop"),
        # The steering keys are in the footer where it has room for them (`STEER_KEYS_SHOWN`);
        # narrower, the same keys act through the hidden `steer_key` bindings (and `?` lists them).
        Binding("l", "steer('lr')", "LR"),
        Binding("u", "steer('unfreeze')", "Unfreeze"),
        Binding("e", "steer('epochs')", "Epochs"),
        Binding("v", "steer('validate')", "Validate"),
        Binding("l", "steer_key('lr')", "LR", show=False),
        Binding("u", "steer_key('unfreeze')", "Unfreeze", show=False),
        Binding("e", "steer_key('epochs')", "Epochs", show=False),
        Binding("v", "steer_key('validate')", "Validate", show=False),
        Binding("g", "log_y", "Log-y"),
        Binding("i", "pictures", "Pictures"),  # the samples panel (run_pictures.py), in the
        Binding("i", "pictures_key", "Pictures", show=False),  # footer where it has room
        Binding("left_square_bracket", "samples_step(-1)", "Earlier", show=False),
        Binding("right_square_bracket", "samples_step(1)", "Later", show=False),
        Binding("n", "new_run", "New run"),
        Binding(RESET_KEY, "reset_zoom", "Reset zoom", show=False),
        Binding("v", "summary", "Summary"),
        Binding("q", "app.quit", "Quit"),
        Binding("ctrl+c", "app.quit", "Quit", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("f1", "app.help", "Help", show=False),
    ]

    def __init__(
        self,
        request: RunRequest | None,
        executor: Executor | None,
        gpu_panel: Callable[[], Widget],
        *,
        source: RunSource | None = None,
    ) -> None:
        """Train `request` here with `executor`, or show `source` (a run in another process)."""
        super().__init__()
        self.request = request
        if source is None:
            if request is None or executor is None:
                raise ValueError(
                    "a run screen shows a source, or trains a request with an executor"
                )
            source = LocalRun(request, executor)
        self.source: RunSource = source
        self.model = RunModel(preset=self.source.preset)
        self.control = self.source.control
        self.bridge = EventBridge(self)
        self.quitting = False
        self.drawing = True  # False once the terminal hung up: events are applied, not drawn
        self._gpu_panel = gpu_panel
        self._draws = RedrawBudget(1 / MAX_FPS, DRAW_BUDGET, ceiling=DRAW_CEILING)
        self._charts = RedrawBudget(CHART_INTERVAL, CHART_BUDGET, frames=2, ceiling=CHART_CEILING)
        self._drain_timer: Timer | None = None
        self._charts_timer: Timer | None = None
        self._keys_shown: tuple[bool, ...] = ()
        self._typed: str | None = None  # a value typed after l / e, before its dialog opened
        self._typed_enter = False  # ... and Enter after it

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """Header, the panels in a grid (rearranged by width in run.tcss), footer."""
        with Horizontal(id="run-header"):
            yield Static(self._title(), id="run-title", markup=False)
            yield StateBadge(id="run-state")
        with Container(id="run-grid"):
            with Vertical(id="progress-panel", classes="panel") as panel:
                panel.border_title = "Progress"
                yield RunProgress(id="progress")
                yield TimeBar(id="time-bar")
            yield LossPanel(id="loss-panel", classes="panel")
            yield MetricPanel(id="metric-panel", classes="panel")
            with Vertical(id="gpu-slot", classes="panel") as panel:
                panel.border_title = "GPU"
                yield self._gpu_panel()
            yield LRPanel(id="lr-panel", classes="panel")
            with Vertical(id="table-panel", classes="panel") as panel:
                panel.border_title = "Epochs"
                yield EpochTable(id="epochs")
            with Vertical(id="log-panel", classes="panel") as panel:
                panel.border_title = "Log"
                yield RunLog(id="log")
        yield Footer()

    def on_resize(self) -> None:
        """Narrow terminals put the GPU panel beside the log, below the full-width table."""
        grid, gpu = self.query_one("#run-grid"), self.query_one("#gpu-slot")
        narrow = self.size.width < NARROW
        if narrow and grid.children[-1] is not gpu:
            grid.move_child(gpu, after=self.query_one("#log-panel"))
        elif not narrow and grid.children[3] is not gpu:
            grid.move_child(gpu, after=self.query_one("#metric-panel"))
        self._refresh_keys()  # the steering keys in the footer or not

    def _title(self) -> str:
        m = self.model
        parts = [m.preset or self.source.preset]
        if self.source.remote:
            parts.insert(0, "watching")
        if m.device:
            parts += [m.device, m.precision, f"{fmt.count(m.total_params)} params"]
        return "  ·  ".join(parts)

    # -- the worker ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        """Start training (or watching) in a thread worker."""
        self._title_bar = self.query_one("#run-title", Static)
        self._badge = self.query_one(StateBadge)
        self._progress = self.query_one(RunProgress)
        self._time_bar = self.query_one(TimeBar)
        self._plots = (
            self.query_one(LossPanel),
            self.query_one(MetricPanel),
            self.query_one(LRPanel),
        )
        self._table = self.query_one(EpochTable)
        self._log = self.query_one(RunLog)
        self._keys_shown = self._keys_state()  # the footer composes with these keys now
        self.run_worker(
            self._train, thread=True, exclusive=True, group="training", exit_on_error=False
        )

    def on_screen_resume(self) -> None:
        """Shown again (or first): the GPU panel's "this run" follows this screen's run."""
        self._follow_run()

    def _follow_run(self) -> None:
        follow = getattr(self.app, "follow_run", None)
        if callable(follow):
            follow(self)

    def _train(self) -> None:
        """Worker thread: the source delivers events; the UI always gets a `RunFinished`."""
        worker = get_current_worker()
        try:
            result = self.source.run(self.bridge, lambda: worker.is_cancelled)
        except Exception as exc:  # a safety net: the sources report their own failures
            result = failed_run(f"{type(exc).__name__}: {exc}")
        if result is not None:
            self.bridge.finish(result)

    def on_unmount(self) -> None:
        """A local run stops (the app cannot exit before its thread returns); a watched one
        goes on."""
        if self.model.active:
            self.source.leave()

    # -- events → widgets ------------------------------------------------------------------------
    @on(RunUpdate)
    def _on_run_update(self, _message: RunUpdate) -> None:
        wait = self._draws.wait()
        if wait > 0:
            if self._drain_timer is None:
                self._drain_timer = self.set_timer(wait, self._drain)
            return
        self._drain()

    def _drain(self) -> None:
        self._drain_timer = None
        self._draws.started()
        charts = self._charts.last
        changed: set[str] = set()
        for event in self.bridge.take():
            changed |= self.model.apply(event)
        if self.drawing:
            self._draw(changed)
        if self._charts.last != charts:
            self._draws.forget()  # the charts were redrawn too: the frames are costed as theirs
        else:
            self._draws.drawn()
        if self.model.finished is not None and "state" in changed:
            self.post_message(self.Ended(self, self.model.finished))

    def _draw(self, changed: set[str]) -> None:
        m = self.model
        if "header" in changed:
            self._title_bar.update(self._title(), layout=False)
            self._follow_run()
            sampler = getattr(self.app, "sampler", None)
            if sampler is not None and m.device and not self.source.remote:
                sampler.torch_device = m.device  # this run's allocated/reserved/peak memory
        if changed & {"state", "progress"}:
            self._badge.set_state(m.state)
            self._progress.show(m.progress, m.state)
            self._time_bar.show(m.progress.time_parts, stepped=m.progress.step > 0 or bool(m.rows))
        if "state" in changed:
            self._refresh_keys()
        if "charts" in changed:
            self._charts_due(now=not m.active)
        if "table" in changed:
            self._table.show_rows(m.rows)
        if "samples" in changed:
            self.samples_written()
        self._log.add(m.take_log())
        if "alert" in changed:
            ring(self.app, m.take_alerts())

    def _charts_due(self, now: bool) -> None:
        """Redraw the charts now, or once their budget's gap since the last redraw has passed."""
        wait = self._charts.wait()
        if now or wait <= 0:
            self._draw_charts()
        elif self._charts_timer is None:
            self._charts_timer = self.set_timer(wait, self._draw_charts)

    def _draw_charts(self) -> None:
        if self._charts_timer is not None:
            self._charts_timer.stop()
            self._charts_timer = None
        if self.has_class("-pictures"):
            return  # the plots are hidden by the samples panel: drawn when it closes
        self._charts.started()  # the plots paint in the next frame, their canvases after it
        for panel in self._plots:
            panel.show(self.model.curves)
        self._charts.drawn()

    def _on_timer_update(self) -> None:
        """Textual's screen update timer (layout, then paint): the frame's UI-thread CPU is
        charged to the redraws waiting for it (`tui.budget`)."""
        clock = time.thread_time()
        super()._on_timer_update()
        cost = time.thread_time() - clock
        self._draws.painted(cost)
        self._charts.painted(cost)

    def _keys_state(self) -> tuple[bool, ...]:
        """What the footer's keys depend on."""
        return (
            self.model.finished is None,
            self.control.paused,
            self.quitting,
            self.model.started,
            self._steer_keys_shown(),
            self._pictures_key_shown(),
        )

    def _refresh_keys(self) -> None:
        """Update the footer's keys, only when what they offer changed (it re-mounts them)."""
        shown = self._keys_state()
        if shown != self._keys_shown:
            self._keys_shown = shown
            self.refresh_bindings()

    # -- keys ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """p/c/s while the run is active (dimmed while quitting), n/v once it ended (n opens
        setup, also when watching: `TrainerApp.action_new_run`); of a
        steering key's two bindings, the one for the footer's width."""
        ended = self.model.finished is not None
        if action == "new_run":
            return ended
        if action == "summary":
            return ended
        if action in ("pictures", "pictures_key"):
            return (action == "pictures") == self._pictures_key_shown()
        if action in ("steer", "steer_key"):
            if (action == "steer") != self._steer_keys_shown():
                return False  # the key's other binding is the one at this width
            return self._can_steer()
        if action not in {"pause", "resume", "checkpoint", "stop"}:
            return True
        if ended:
            return False
        if self.quitting:
            return None
        if action == "pause":
            return not self.control.paused
        if action == "resume":
            return self.control.paused
        return True

    def action_pause(self) -> None:
        """p: pause at the next step boundary (the clocks stop with it)."""
        self.control.pause()
        self._draw(self.model.request_pause(True))
        self._refresh_keys()

    def action_resume(self) -> None:
        """p while paused: carry on."""
        self.control.resume()
        self._draw(self.model.request_pause(False))
        self._refresh_keys()

    def action_reset_zoom(self) -> None:
        """0: every plot shows its whole x range again (after zooming with the wheel)."""
        reset_zoom(self)

    def action_log_y(self) -> None:
        """g: the loss plot's y axis between linear and logarithmic."""
        self.query_one(LossPanel).toggle_log_y()

    def action_checkpoint(self) -> None:
        """c: save a checkpoint at the next step boundary (the log shows its path)."""
        self.control.request_checkpoint()
        self._draw(self.model.request_checkpoint())

    def action_stop(self) -> None:
        """s: stop after this epoch; pressed again, stop at the next step (with a checkpoint)."""
        if self.model.stop_requested:
            self.control.request_stop(StopMode.STEP, status="stopped")
            self.model.log("warning", "stopping now: checkpoint at the next step")
            self._draw(self.model.request_stop("step"))
            return
        self.control.request_stop(StopMode.EPOCH, status="stopped")
        self.model.log("info", "stopping after this epoch (press s again to stop now)")
        self._draw(self.model.request_stop("epoch"))

    async def action_new_run(self) -> None:
        """n (after the run): back to setup."""
        await self.app.run_action("new_run")

    def action_summary(self) -> None:
        """v (after the run): the summary again."""
        if self.model.finished is not None:
            self.app.push_screen(SummaryScreen(self.model.finished, self.model))

    def stop_for_exit(self, status: str = "stopped", signal: int | None = None) -> None:
        """Stop at the next step boundary (the engine saves a checkpoint) and then exit."""
        self.quitting = True
        self.control.request_stop(StopMode.STEP, status=status, signal=signal)
        self.model.log("info", "quitting: saving a checkpoint at the next step boundary")
        self._draw(self.model.request_stop("step"))
        self._refresh_keys()

    def note(self, text: str) -> None:
        """Add a line of the console's own to the log (e.g. a command copied from the summary)."""
        self.model.log("info", text)
        self._log.add(self.model.take_log())

    def summary(self) -> dict[str, Any]:
        """The finished run's summary (empty while running)."""
        return dict(self.model.finished.summary) if self.model.finished else {}
