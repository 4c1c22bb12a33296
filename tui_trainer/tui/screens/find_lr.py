"""The LR finder from the setup screen: the range test runs in a thread worker on the form's
config (through `tui_trainer.find.service`, imported in the worker, so the console loads no torch
for it beforehand); the loss-vs-LR curve grows as it runs (log-x, raw and smoothed), the
suggestion is marked and explained, and "Use it" hands the LR back to the form.
"""

from __future__ import annotations

import math
import threading
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from tui_trainer.config.schema import RunConfig
from tui_trainer.errors import UserError
from tui_trainer.tui.widgets.plots import RunPlot
from tui_trainer.tui.widgets.ticks import TickLabels, log_ticks

STEPS = 100
"""Optimizer steps of the range test started from the setup screen (as `find-lr`'s default)."""


class LRPlot(RunPlot):
    """Loss against log10(LR): the raw losses faint, the smoothed curve, the suggestion marked."""

    x_name = "lr"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.suggested: float | None = None
        self.span = (1e-7, 10.0)

    def show(
        self,
        lrs: list[float],
        losses: list[float],
        smoothed: list[float] | None = None,
        suggested: float | None = None,
    ) -> None:
        """Draw these points (only when they differ from the last drawing)."""
        self.lrs, self.losses = list(lrs), list(losses)
        self.smoothed, self.suggested = list(smoothed or []), suggested
        self.redraw()

    def redraw(self) -> None:
        """Draw the curve on its axes if anything changed."""
        key = (len(self.lrs), len(self.smoothed), self.suggested, self.size)
        if key == self._drawn or not self.is_mounted or not self.lrs:
            return
        self._drawn = key
        xs = [math.log10(v) for v in self.lrs]
        x0, x1 = (math.log10(v) for v in self.span)
        shown = self.smoothed or self.losses
        low = min(range(len(shown)), key=shown.__getitem__)
        top = max(shown[: low + 1]) if low else max(shown)
        bottom = min(self.losses)
        self.clear()
        self.axes((x0, x1), (bottom, top))
        self.set_x_formatter(TickLabels(log=True))
        width = max(self.size.width - self.margin_left, 8)
        self.set_xticks(log_ticks(x0, x1, max(2, width // 7)))
        self.line(xs, [min(v, top) for v in self.losses], "run-plot--raw")
        if self.smoothed:
            self.line(xs, [min(v, top) for v in self.smoothed], "run-plot--main")
        suggested = self.suggested
        if suggested is not None and self.smoothed:
            at = min(range(len(self.lrs)), key=lambda i: abs(self.lrs[i] - suggested))
            self.mark(math.log10(suggested), min(self.smoothed[at], top))


class FindLRScreen(ModalScreen[float | None]):
    """Runs the LR range test on `config` and offers its suggestion (dismissed with the LR on
    "Use it", None otherwise)."""

    CSS_PATH = "find_lr.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("u", "use", "Use it"),
    ]

    class Progress(Message):
        """A step of the test (from the worker thread)."""

    class Done(Message):
        """The test ended: its finding (`LRFinding.as_json`) or why it failed."""

        def __init__(self, finding: dict[str, Any] | None, error: str = "") -> None:
            super().__init__()
            self.finding = finding
            self.error = error

    def __init__(self, config: RunConfig, preset: str, *, steps: int | None = None) -> None:
        super().__init__()
        self.config, self.preset, self.steps = config, preset, steps or STEPS
        self.finding: dict[str, Any] | None = None
        self._points: list[tuple[float, float]] = []  # (lr, loss), appended by the worker
        self._lock = threading.Lock()

    def compose(self) -> ComposeResult:
        """Title, status, plot, buttons."""
        with Vertical(id="find-lr-box"):
            yield Static(
                f"LR range test · {self.preset} · {self.steps} steps on a copy of the model",
                id="find-lr-title",
                markup=False,
            )
            yield Static("building the model and data…", id="find-lr-status", markup=False)
            yield LRPlot(id="find-lr-plot")
            with Horizontal(id="find-lr-buttons"):
                yield Button("Use it", id="use-lr", variant="success", disabled=True, compact=True)
                yield Button("Close", id="close-lr", compact=True)

    def on_mount(self) -> None:
        """Start the test; redraw the growing curve a few times a second."""
        self.set_interval(0.25, self._refresh_curve)
        self._find()

    @work(thread=True, exclusive=True, group="find-lr", exit_on_error=False)
    def _find(self) -> None:
        worker = get_current_worker()
        try:
            from tui_trainer.find.service import FinderFailed, run_find_lr

            try:
                finding, _ = run_find_lr(
                    self.config,
                    self.preset,
                    steps=self.steps,
                    on_step=self._step,
                    cancelled=lambda: worker.is_cancelled,
                )
            except (UserError, FinderFailed) as exc:
                self.post_message(self.Done(None, str(exc)))
                return
        except Exception as exc:  # the console stays up; the modal says what went wrong
            self.post_message(self.Done(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Done(finding))

    def _step(self, step: int, lr: float, loss: float) -> None:
        with self._lock:
            self._points.append((lr, loss))

    def _refresh_curve(self) -> None:
        if self.finding is not None:
            return
        with self._lock:
            points = list(self._points)
        if not points:
            return
        lr, loss = points[-1]
        self.query_one("#find-lr-status", Static).update(
            f"step {len(points)}/{self.steps} · lr {lr:.3g} · loss {loss:.4g}"
        )
        self.query_one(LRPlot).show([p[0] for p in points], [p[1] for p in points])

    @on(Done)
    def _done(self, message: Done) -> None:
        status = self.query_one("#find-lr-status", Static)
        if message.finding is None:
            status.update(f"✖ {message.error}")
            self.app.bell()
            return
        f = self.finding = message.finding
        plot = self.query_one(LRPlot)
        plot.span = (f["start"], f["end"])
        plot.show(f["lrs"], f["losses"], f["smoothed"], f["suggested_lr"])
        lines = [
            f"suggested lr {f['suggested_lr']:.3g} ({f['method']}): {f['reason']}",
            f"steepest descent {_lr(f['steepest_lr'])} · valley {_lr(f['valley_lr'])}"
            + (f" · {f['stopped']}" if f["stopped"] else ""),
            *(f"▲ {w}" for w in f["warnings"]),
        ]
        status.update("\n".join(lines))
        use = self.query_one("#use-lr", Button)
        use.disabled = False
        use.focus()

    def action_use(self) -> None:
        """Put the suggestion into the form's LR field (once there is one)."""
        if self.finding is not None:
            self.dismiss(float(f"{self.finding['suggested_lr']:.3g}"))

    def action_close(self) -> None:
        """Leave without changing the form (a test still running stops at its next step)."""
        self.workers.cancel_group(self, "find-lr")
        self.dismiss(None)

    @on(Button.Pressed, "#use-lr")
    def _use_pressed(self) -> None:
        self.action_use()

    @on(Button.Pressed, "#close-lr")
    def _close_pressed(self) -> None:
        self.action_close()


def _lr(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
