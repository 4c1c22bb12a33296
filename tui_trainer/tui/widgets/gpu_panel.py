"""The GPU panel: per-GPU blocks, this run's PyTorch memory and the host, refreshed at ~1 Hz.

``GpuPanel`` reads the latest :class:`~tui_trainer.telemetry.sampler.TelemetrySnapshot` from a
:class:`~tui_trainer.telemetry.sampler.Sampler` (or any callable returning one) on its own timer,
and updates only the child widgets whose values changed. It never starts, stops or waits on the
sampler, and never lets an error escape into the app. Styles: ``gpu_panel.tcss`` next to this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult, RenderResult
from textual.containers import HorizontalGroup, VerticalGroup, VerticalScroll
from textual.markup import escape
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from tui_trainer.telemetry.gpu import GpuProcess, GpuSample, GpuSnapshot
from tui_trainer.telemetry.host import HostSample
from tui_trainer.telemetry.sampler import GpuHistory, Sampler, TelemetrySnapshot
from tui_trainer.telemetry.table import (
    NA,
    format_bytes,
    format_memory_pair,
    format_power,
    no_gpu_line,
)
from tui_trainer.telemetry.torch_memory import TorchMemorySample

__all__ = ["GpuPanel", "PercentSparkline", "UsageBar"]

SnapshotSource = Callable[[], TelemetrySnapshot | None]
NARROW_BELOW = 60  # content columns under which the panel uses its compact layout


def _pct(value: float | None) -> str:
    return f"{NA:>4}" if value is None else f"{value:3.0f}%"


class Line(Static):
    """A one-line Static that skips the repaint when its text did not change."""

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(text, id=id, classes=classes)
        self._text = text

    @property
    def text(self) -> str:
        """The markup last shown."""
        return self._text

    def set(self, text: str) -> None:
        """Show ``text`` (console markup) if it differs from what is shown."""
        if text != self._text:
            self._text = text
            self.update(text)


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


class _GpuBlock(VerticalGroup):
    """One GPU: title, utilization + history, memory bar, sensors, processes."""

    def __init__(self, index: int) -> None:
        super().__init__(classes="gpu-block")
        self.index = index
        self.title = Line(classes="gpu-title")
        self.clocks = Line(classes="gpu-clocks")
        self.util = Line(classes="gpu-label")
        self.util_history = PercentSparkline(classes="gpu-history")
        self.mem_util = Line(classes="gpu-aside")
        self.mem = Line(classes="gpu-label")
        self.mem_bar = UsageBar(classes="gpu-bar")
        self.mem_amount = Line(classes="gpu-aside")
        self.sensors = Line(classes="gpu-sensors")
        self.util_row = HorizontalGroup(
            self.util, self.util_history, self.mem_util, classes="gpu-row"
        )
        self.mem_row = HorizontalGroup(self.mem, self.mem_bar, self.mem_amount, classes="gpu-row")
        self.procs = VerticalGroup(classes="gpu-procs")
        self._rows: list[Line] = []
        self._history: tuple[float, ...] | None = None
        self._lost: bool | None = None
        self._pending: tuple[GpuSample, GpuHistory, bool] | None = None

    def compose(self) -> ComposeResult:
        yield HorizontalGroup(self.title, self.clocks, classes="gpu-head")
        yield self.util_row
        yield self.mem_row
        yield self.sensors
        yield self.procs

    def on_mount(self) -> None:
        if self._pending is not None:
            self.show(*self._pending)
            self._pending = None

    def show(self, gpu: GpuSample, history: GpuHistory, narrow: bool) -> None:
        """Show one GPU reading (``narrow``: the compact layout); only changed widgets repaint."""
        if not self.procs.is_attached:  # just created: process rows can be mounted after mount
            self._pending = (gpu, history, narrow)
            return
        self.title.set(f"[b]GPU {gpu.index}[/b]  {escape(gpu.name)}")
        if gpu.lost != self._lost:
            self._lost = gpu.lost
            self.set_class(gpu.lost, "-lost")
            self.util_row.display = not gpu.lost
            self.mem_row.display = not gpu.lost
            self.procs.display = not gpu.lost
        if self.clocks.display != (not gpu.lost and not narrow):
            self.clocks.display = not gpu.lost and not narrow
        if gpu.lost:
            reason = escape(gpu.lost_reason or "not answering")
            self.sensors.set(f"[b]GPU lost[/b] ({reason}): no more readings from this GPU")
            return
        pstate = NA if gpu.pstate is None else f"P{gpu.pstate}"
        clock = NA if gpu.sm_clock is None else f"{gpu.sm_clock} MHz"
        self.clocks.set(f"{pstate}  SM {clock}")
        self.util.set(f"util {_pct(gpu.utilization)} ")
        if history.utilization != self._history:
            self._history = history.utilization
            self.util_history.data = list(history.utilization)
        self.mem_util.set(f" {'bw' if narrow else 'mem-bw'} {_pct(gpu.memory_utilization)}")
        fraction = gpu.memory_fraction
        self.mem.set(f"mem  {_pct(None if fraction is None else 100 * fraction)} ")
        self.mem_bar.fraction = fraction
        pair = format_memory_pair(gpu.memory_used, gpu.memory_total)
        self.mem_amount.set(f" {pair:>{14 if narrow else 15}}")
        temp = NA if gpu.temperature is None else f"{gpu.temperature}°C"
        fan = NA if gpu.fan_speed is None else f"{gpu.fan_speed}%"
        power = format_power(gpu.power_draw, gpu.power_limit)
        if narrow:  # the clocks move here from the title row
            power = f"power {power}" if power == NA else power
            self.sensors.set(f"{temp}  {power}  fan {fan}  {pstate}  {clock}")
        else:
            self.sensors.set(f"temp {temp}   power {power}   fan {fan}")
        self._show_processes(gpu.processes, narrow)

    def _show_processes(self, processes: Sequence[GpuProcess], narrow: bool) -> None:
        texts = [_process_text(p, narrow) for p in processes] or ["  no processes"]
        selves = [p.is_self for p in processes] or [False]
        while len(self._rows) < len(texts):
            row = Line(classes="gpu-proc")
            self._rows.append(row)
            self.procs.mount(row)
        for i, row in enumerate(self._rows):
            shown = i < len(texts)
            if shown:
                row.set(texts[i])
                row.set_class(selves[i], "-self")
            if row.display != shown:
                row.display = shown


def _process_text(proc: GpuProcess, narrow: bool) -> str:
    """``PID TYPE NAME MEMORY`` (full layout) or ``PID NAME MEMORY`` (compact, 40 columns)."""
    width = 10 if narrow else 24
    name = proc.name if len(proc.name) <= width else proc.name[: width - 1] + "…"
    name = escape(name.ljust(width))
    memory = format_bytes(proc.used_memory)
    mark = " [b]◀ this run[/b]" if proc.is_self else ""
    if narrow:
        return f"{proc.pid:>7} {name} {memory:>9}{mark}"
    return f"{proc.pid:>8} {proc.kind:<3} {name} {memory:>9}{' ' + mark if mark else ''}"


class _HostBlock(VerticalGroup):
    """Machine CPU (with history) and RAM, this process, and its worker processes."""

    def __init__(self) -> None:
        super().__init__(id="gpu-host")
        self.cpu = Line(classes="gpu-label")
        self.cpu_history = PercentSparkline(classes="host-history")
        self.ram = Line(classes="gpu-aside")
        self.run = Line(id="gpu-host-run")
        self._history: tuple[float, ...] | None = None

    def compose(self) -> ComposeResult:
        yield HorizontalGroup(self.cpu, self.cpu_history, self.ram, classes="gpu-row")
        yield self.run

    def show(self, host: HostSample | None, history: tuple[float, ...], narrow: bool) -> None:
        """Show one host reading (``narrow``: the compact layout)."""
        if host is None:
            self.cpu.set(f"CPU  {NA}")
            self.ram.set("")
            self.run.set("host figures unavailable")
            return
        self.cpu.set(f"CPU  {_pct(host.cpu_percent)} of {host.cpu_count} ")
        if history != self._history:
            self._history = history
            self.cpu_history.data = list(history)
        pair = format_memory_pair(host.memory_used, host.memory_total)
        ram = f"RAM {pair} {host.memory_percent:3.0f}%"
        self.ram.set(f" RAM {host.memory_percent:3.0f}%" if narrow else f" {ram}")
        count = host.worker_count
        workers = (
            f"{count} worker{'s' if count != 1 else ''} "
            f"{_cores(host.workers_cpu_percent)}, {format_bytes(host.workers_rss)}"
            if count
            else "no worker processes"
        )
        run = f"this run {_cores(host.process_cpu_percent)}, {format_bytes(host.process_rss)}"
        self.run.set(f"RAM {pair}\n{run}\n{workers}" if narrow else f"{run}   {workers}")


def _cores(percent: float | None) -> str:
    """100 % of one core -> "1.0 cores"."""
    return f"{NA} cores" if percent is None else f"{percent / 100:.1f} cores"


def _torch_text(mem: TorchMemorySample) -> str:
    return (
        f"[b]PyTorch[/b] {mem.device}  allocated {format_bytes(mem.allocated)}"
        f" · reserved {format_bytes(mem.reserved)} · peak {format_bytes(mem.peak_allocated)}"
    )


def _summary_text(gpu: GpuSnapshot) -> str:
    if not gpu.available:
        return escape(no_gpu_line(gpu))
    count = len(gpu.gpus)
    lost = sum(1 for g in gpu.gpus if g.lost)
    text = (
        f"Driver {gpu.driver_version or NA} · CUDA {gpu.cuda_version or NA} · "
        f"{count} GPU{'s' if count != 1 else ''}"
    )
    return text + (f" · [b]{lost} lost[/b]" if lost else "")


class GpuPanel(VerticalScroll, can_focus=False):
    """Live GPU / host telemetry, an nvidia-smi replacement inside the console.

    Args:
        source: a ``Sampler`` (its ``latest`` method is used) or a callable returning the latest
            ``TelemetrySnapshot`` (or ``None`` while there is none yet). The panel only reads it.
        interval: seconds between refreshes (the sampler's own rate is what limits freshness).
    """

    def __init__(
        self,
        source: Sampler | SnapshotSource,
        *,
        interval: float = 1.0,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._source: SnapshotSource
        if isinstance(source, Sampler):
            self._source = source.latest
        elif callable(source):
            self._source = source
        else:
            raise TypeError("source must be a Sampler or a callable returning a snapshot")
        self.interval = interval
        self._summary = Line("Reading GPUs…", id="gpu-summary")
        self._blocks_box = VerticalGroup(id="gpu-blocks")
        self._torch = Line(id="gpu-torch-memory")
        self._host = _HostBlock()
        self._blocks: dict[int, _GpuBlock] = {}
        self._sequence: int | None = None
        self._snapshot: TelemetrySnapshot | None = None
        self.narrow = False
        self.last_error: str | None = None

    def compose(self) -> ComposeResult:
        yield self._summary
        yield self._blocks_box
        yield self._torch
        yield self._host

    def on_mount(self) -> None:
        self._torch.display = False
        self.set_interval(self.interval, self.refresh_telemetry, name="gpu-panel-refresh")
        self.refresh_telemetry()

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW_BELOW
        if narrow != self.narrow:
            self.narrow = narrow
            self.set_class(narrow, "-narrow")
            if self._snapshot is not None:
                self.show_snapshot(self._snapshot)

    def refresh_telemetry(self) -> None:
        """Read the source and show the snapshot if it is new. Never raises."""
        try:
            snapshot = self._source()
        except Exception as error:
            self._fail(error)
            return
        if snapshot is not None and snapshot.sequence != self._sequence:
            self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: TelemetrySnapshot) -> None:
        """Show ``snapshot`` now (tests and the timer use it). Never raises."""
        try:
            self._show(snapshot)
            self._snapshot = snapshot
            self._sequence = snapshot.sequence
            self.last_error = None
        except Exception as error:
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        self._sequence = None  # show the next snapshot even if the sampler has not moved on
        self.log.error("GPU panel:", self.last_error)
        self._summary.set(escape(f"GPU panel error: {self.last_error}"))

    def _show(self, snapshot: TelemetrySnapshot) -> None:
        gpu = snapshot.gpu
        self._summary.set(_summary_text(gpu))
        self._summary.set_class(not gpu.available, "-no-gpu")
        indices = [g.index for g in gpu.gpus]
        if list(self._blocks) != indices:
            for block in self._blocks.values():
                block.remove()
            self._blocks = {i: _GpuBlock(i) for i in indices}
            if self._blocks:
                self._blocks_box.mount_all(self._blocks.values())
        for sample in gpu.gpus:
            history = snapshot.history_for(sample.index)
            self._blocks[sample.index].show(sample, history, self.narrow)
        torch_memory = snapshot.torch_memory
        if self._torch.display != (torch_memory is not None):
            self._torch.display = torch_memory is not None
        if torch_memory is not None:
            self._torch.set(_torch_text(torch_memory))
        self._host.show(snapshot.host, snapshot.cpu_history, self.narrow)
