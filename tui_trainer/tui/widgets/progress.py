"""tqdm-style progress: the run's epochs on one line, the current epoch's steps (or its
validation pass) on the next."""

from __future__ import annotations

from textual.app import RenderResult
from textual.content import Content
from textual.widget import Widget

from tui_trainer import formatting as fmt
from tui_trainer.runlog.events import ValidationProgress
from tui_trainer.tui.model import Progress

BAR_STYLE = {
    "paused": "$warning",
    "pausing": "$warning",
    "resuming": "$warning",
    "stopping": "$warning",
    "failed": "$error",
    "finished": "$success",
    "stopped": "$warning",
    "pruned": "$warning",
    "interrupted": "$warning",
}
ENDED = frozenset({"finished", "stopped", "pruned", "interrupted", "failed"})
EMPTY_STYLE = "$foreground 15%"
MIN_BAR = 8


def bar(fraction: float, width: int, style: str) -> Content:
    """A thin horizontal bar (``━━━━╸    ``) filled to `fraction` of `width` cells."""
    width = max(0, width)
    halves = round(max(0.0, min(1.0, fraction)) * width * 2)
    full, half = divmod(halves, 2)
    filled = "━" * full + ("╸" if half else "")
    return Content.assemble((filled, style), ("━" * (width - len(filled)), EMPTY_STYLE))


class RunProgress(Widget):
    """Two lines: ``Epoch k/N`` with the run's bar and clocks (elapsed, ETA of the run), then
    the epoch's step bar with the epoch's clocks (elapsed<remaining) and the engine's rates."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._progress = Progress()
        self._state = "starting"
        self._shown: tuple[object, ...] = ()

    def show(self, progress: Progress, state: str) -> None:
        """Show `progress`; repaints only when something visible changed."""
        p = progress
        v = p.validation
        key = (
            p.epoch, p.epochs, p.step, p.steps, fmt.duration(p.elapsed),
            fmt.duration(p.epoch_elapsed), fmt.duration(p.epoch_eta), fmt.duration(p.run_eta),
            fmt.speed(p.it_per_second, p.samples_per_second), state,
            None if v is None else (v.batch, v.batches, fmt.duration(v.seconds)),
        )  # fmt: skip
        if key == self._shown:
            return
        self._shown = key
        self._progress, self._state = progress, state
        self.refresh()

    def render(self) -> RenderResult:
        """Render both lines to the current width."""
        p, width = self._progress, self.size.width
        style = BAR_STYLE.get(self._state, "$primary")
        if self._state == "starting":
            return Content.styled("preparing data and model…", "$text-muted")
        epochs = max(p.epochs, 1)
        room_k = max(7, len(f"{epochs}/{epochs}") + 1)  # k/N never touches the bar, nor moves it
        head = Content.assemble(("Epoch ", "bold"), (f"{p.epoch}/{epochs}".ljust(room_k), "bold"))
        tail = Content.assemble(
            f" {p.run_fraction * 100:3.0f}%  ",
            ("elapsed ", "$text-muted"),
            fmt.duration(p.elapsed),
            ("  ETA ", "$text-muted"),
            "--:--" if self._state in ENDED else fmt.duration(p.run_eta),
        )
        run_bar = bar(p.run_fraction, width - head.cell_length - tail.cell_length, style)
        first = head + run_bar + tail
        if p.validation is not None and self._state not in ENDED:
            return Content("\n").join([first, self._validation_line(p.validation, style)])
        label = "train"
        counter = f"{p.step}/{p.steps}"
        eta = "--:--" if self._state in ENDED else fmt.duration(p.epoch_eta)
        step_head = Content.assemble((label.ljust(6), "$text-muted"), counter.rjust(7))
        clocks = f"{fmt.duration(p.epoch_elapsed)}<{eta}"  # the epoch's elapsed<remaining
        stats = Content.assemble(
            f" {p.epoch_fraction * 100:3.0f}% ",
            ("[", "$text-muted"),
            clocks,
            (", ", "$text-muted"),
            fmt.rate(p.it_per_second),
            (", ", "$text-muted"),
            fmt.samples_rate(p.samples_per_second),
            ("]", "$text-muted"),
        )
        room = width - step_head.cell_length - stats.cell_length - 1
        if room < MIN_BAR:  # narrow: drop the samples/s figure before the bar gets too short
            stats = Content.assemble(
                f" {p.epoch_fraction * 100:3.0f}% ", f"{clocks} ", fmt.rate(p.it_per_second)
            )
            room = width - step_head.cell_length - stats.cell_length - 1
        step_bar = bar(p.epoch_fraction, room, style)
        return Content("\n").join([first, step_head + Content(" ") + step_bar + stats])

    def _validation_line(self, v: ValidationProgress, style: str) -> Content:
        """The validation pass in place of the step bar: ``val  37/120 ━━╸  31% [12s<26s,
        3.1it/s]`` (the pass's own clocks and mean rate: validation is off the training clock)."""
        rate = fmt.pass_rate(v.batch, v.seconds)
        eta = fmt.epoch_eta(v.batch, v.batches, rate)
        fraction = v.batch / v.batches if v.batches else 0.0
        head = Content.assemble(("val".ljust(6), "$text-muted"), f"{v.batch}/{v.batches}".rjust(7))
        clocks = f"{fmt.duration(v.seconds)}<{fmt.duration(eta)}"
        stats = Content.assemble(
            f" {fraction * 100:3.0f}% ",
            ("[", "$text-muted"),
            clocks,
            (", ", "$text-muted"),
            fmt.rate(rate),
            ("]", "$text-muted"),
        )
        room = self.size.width - head.cell_length - stats.cell_length - 1
        if room < MIN_BAR:
            stats = Content.assemble(f" {fraction * 100:3.0f}% ", clocks)
            room = self.size.width - head.cell_length - stats.cell_length - 1
        return head + Content(" ") + bar(fraction, room, style) + stats
