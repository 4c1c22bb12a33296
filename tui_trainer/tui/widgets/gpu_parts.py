"""Small widgets of the GPU panel: one-row lines, a 0-100 sparkline, a usage bar; the host block.

Split from `gpu_panel` (which re-exports them); styles are in ``gpu_panel.tcss``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import HorizontalGroup, VerticalGroup
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from tui_trainer.telemetry.host import HostSample
from tui_trainer.telemetry.table import NA, format_bytes, format_memory_pair
from tui_trainer.tui.fit import Part


def _pct(value: float | None) -> str:
    return f"{NA:>4}" if value is None else f"{value:3.0f}%"


class Line(Static):
    """A one-line Static that skips the repaint when its text did not change."""

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(text, id=id, classes=classes)
        self._text = text
        self._cells = Content.from_markup(text).cell_length  # its width on screen

    @property
    def text(self) -> str:
        """The markup last shown."""
        return self._text

    def set(self, text: str) -> None:
        """Show ``text`` (console markup) if it differs from what is shown; the screen is laid
        out again only when its width changed (a layout costs far more than the repaint)."""
        if text != self._text:
            content = Content.from_markup(text)
            resized = content.cell_length != self._cells
            self._text, self._cells = text, content.cell_length
            self.update(content, layout=resized)


class PercentSparkline(Sparkline):
    """A sparkline on a fixed 0-100 scale, newest sample at the right.

    Textual's ``Sparkline`` scales between the data's own min and max (a GPU steady at 100 %
    would draw as flat bottom bars); this one keeps the scale absolute. Assign ``data`` a new
    list to update it.
    """

    BARS = "▁▂▃▄▅▆▇█"

    def render(self) -> RenderResult:
        """Draw one bar per sample, or per bucket (its maximum) when there are more samples."""
        width = self.size.width
        data = list(self.data or [])
        if width <= 0:
            return Text("")
        if len(data) > width:
            step = Fraction(len(data), width)
            data = [max(data[int(step * i) : int(step * (i + 1))]) for i in range(width)]
        _, base = self.background_colors
        low = base + self.get_component_styles("sparkline--min-color").color
        high = base + self.get_component_styles("sparkline--max-color").color
        text = Text(" " * (width - len(data)), end="")
        top = len(self.BARS) - 1
        for value in data:
            ratio = min(max(value / 100.0, 0.0), 1.0)
            color = low.blend(high, ratio)
            text.append(self.BARS[round(ratio * top)], Style.from_color(color.rich_color))
        return text


class UsageBar(Widget):
    """A one-line bar filled to ``fraction`` (0..1); empty and dim when unknown."""

    fraction: reactive[float | None] = reactive[float | None](None)

    def render(self) -> RenderResult:
        """Filled cells in the widget's color, the rest dim."""
        width = self.size.width
        if self.fraction is None:
            return Text("░" * width, style="dim", end="")
        filled = round(min(max(self.fraction, 0.0), 1.0) * width)
        text = Text("█" * filled, end="")
        text.append("░" * (width - filled), style="dim")
        return text


class HostBlock(VerticalGroup):
    """Machine CPU (with history) and RAM, this process, and its worker processes."""

    def __init__(self) -> None:
        super().__init__(id="gpu-host")
        self.cpu = Line(classes="gpu-label")
        self.cpu_history = PercentSparkline(classes="host-history")
        self.ram = Line(classes="gpu-aside")
        self.cpu_row = HorizontalGroup(self.cpu, self.cpu_history, self.ram, classes="gpu-row")
        self.ram_line = Line(classes="host-line")  # compact layout: RAM used/total
        self.run = Line(id="gpu-host-run", classes="host-line")
        self.workers_line = Line(id="gpu-host-workers", classes="host-line")  # compact layout
        self._history: tuple[float, ...] | None = None
        self._narrow = False
        self._fit: tuple[bool, ...] = (True, True, True, True)

    def compose(self) -> ComposeResult:
        yield self.cpu_row
        yield self.ram_line
        yield self.run
        yield self.workers_line

    def parts(self) -> list[Part]:
        """CPU and this run (most needed), then RAM used/total and the workers (compact)."""
        extra = 1 if self._narrow else 0
        return [Part(2, 1, gap=1), Part(3, extra), Part(2, 1), Part(5, extra)]

    def apply_fit(self, shown: Sequence[bool]) -> None:
        """Show only the lines that fit (`shown`, in `parts` order)."""
        self._fit = tuple(shown)
        self._display()

    def _display(self) -> None:
        cpu, ram, run, workers = self._fit
        wanted = [
            (self.cpu_row, cpu),
            (self.ram_line, ram and self._narrow),
            (self.run, run),
            (self.workers_line, workers and self._narrow),
        ]
        for widget, show in wanted:
            if widget.display != show:
                widget.display = show

    def show(self, host: HostSample | None, history: tuple[float, ...], narrow: bool) -> None:
        """Show one host reading (``narrow``: the compact layout)."""
        self._narrow = narrow
        self._display()
        if host is None:
            self.cpu.set(f"CPU  {NA}")
            self.ram.set("")
            self.ram_line.set("")
            self.workers_line.set("")
            self.run.set("host figures unavailable")
            return
        self.cpu.set(f"CPU  {_pct(host.cpu_percent)} of {host.cpu_count} ")
        if history != self._history:
            self._history = history
            self.cpu_history.data = list(history)
        pair = format_memory_pair(host.memory_used, host.memory_total)
        ram = f"RAM {pair} {host.memory_percent:3.0f}%"
        self.ram.set("" if narrow else f" {ram}")  # compact: RAM has a line of its own
        if self.ram.display != (not narrow):
            self.ram.display = not narrow
        count = host.worker_count
        workers = (
            f"{count} worker{'s' if count != 1 else ''} "
            f"{_cores(host.workers_cpu_percent)}, {format_bytes(host.workers_rss)}"
            if count
            else "no worker processes"
        )
        run = f"this run {_cores(host.process_cpu_percent)}, {format_bytes(host.process_rss)}"
        self.ram_line.set(f"RAM {pair} {host.memory_percent:.0f}%")
        self.run.set(run if narrow else f"{run}   {workers}")
        self.workers_line.set(workers)


def _cores(percent: float | None) -> str:
    """100 % of one core -> "1.0 cores"."""
    return f"{NA} cores" if percent is None else f"{percent / 100:.1f} cores"
