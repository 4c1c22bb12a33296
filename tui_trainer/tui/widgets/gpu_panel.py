"""The GPU panel: per-GPU blocks, this run's PyTorch memory and the host, refreshed at ~1 Hz.

``GpuPanel`` reads the latest :class:`~tui_trainer.telemetry.sampler.TelemetrySnapshot` from a
:class:`~tui_trainer.telemetry.sampler.Sampler` (or any callable returning one) on its own timer,
and updates only the child widgets whose values changed. It never starts, stops or waits on the
sampler, and never lets an error escape into the app. Styles: ``gpu_panel.tcss`` next to this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual import events
from textual.app import ComposeResult
from textual.containers import HorizontalGroup, VerticalGroup, VerticalScroll
from textual.markup import escape

from tui_trainer.telemetry.gpu import GpuProcess, GpuSample, GpuSnapshot
from tui_trainer.telemetry.sampler import GpuHistory, Sampler, TelemetrySnapshot
from tui_trainer.telemetry.table import (
    NA,
    format_bytes,
    format_memory_pair,
    format_power,
    no_gpu_line,
)
from tui_trainer.telemetry.torch_memory import TorchMemorySample
from tui_trainer.tui.fit import Part, fit
from tui_trainer.tui.widgets.gpu_parts import HostBlock, Line, PercentSparkline, UsageBar, _pct

__all__ = ["GpuPanel", "Line", "PercentSparkline", "UsageBar"]

SnapshotSource = Callable[[], TelemetrySnapshot | None]
NARROW_BELOW = 60  # content columns under which the panel uses its compact layout


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
        self._process_rows = 1
        self._fit = (True, True, True)  # core, sensors, processes (see `parts`)

    def parts(self) -> list[Part]:
        """Title with the util and memory rows (most needed), sensors, processes."""
        lost = bool(self._lost)
        return [
            Part(1, 1 if lost else 3, gap=1),
            Part(3, 1),
            Part(4, 0 if lost else self._process_rows),
        ]

    def apply_fit(self, shown: Sequence[bool]) -> None:
        """Show only the parts that fit (`shown`, in `parts` order)."""
        self._fit = (shown[0], shown[0] and shown[1], shown[0] and shown[2])
        if self.display != self._fit[0]:
            self.display = self._fit[0]
        if self.sensors.display != self._fit[1]:
            self.sensors.display = self._fit[1]
        procs = not self._lost and self._fit[2]
        if self.procs.display != procs:
            self.procs.display = procs

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
            self.procs.display = not gpu.lost and self._fit[2]
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
        self._process_rows = len(texts)
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
        self._host = HostBlock()
        self._blocks: dict[int, _GpuBlock] = {}
        self._sequence: int | None = None
        self._snapshot: TelemetrySnapshot | None = None
        self.narrow = False
        self._torch_shown = False
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
        self.fit_to_height()

    def fit_to_height(self) -> None:
        """Drop the gaps, then the least needed lines, until the panel fits its rows.

        Most needed: the summary line, each GPU's title, util and memory rows, the host's CPU
        and this run's line; then the sensors, PyTorch memory, processes, RAM, workers
        (`tui.fit`). The panel scrolls only if even the most needed lines do not fit.
        """
        rows = self.scrollable_content_region.height
        if rows <= 0:
            return
        groups: list[tuple[object, list[Part]]] = [(self._summary, [Part(1, 1)])]
        groups += [(block, block.parts()) for block in self._blocks.values()]
        torch_rows = 1 if self._torch_shown else 0
        groups.append((self._torch, [Part(3, torch_rows, gap=1 if torch_rows else 0)]))
        groups.append((self._host, self._host.parts()))
        outcome = fit(rows, [part for _owner, parts in groups for part in parts])
        self.set_class(not outcome.gaps, "-tight")
        shown = list(outcome.shown)
        for owner, parts in groups:
            mine, shown = shown[: len(parts)], shown[len(parts) :]
            if isinstance(owner, _GpuBlock | HostBlock):
                owner.apply_fit(mine)
            elif owner is self._torch:
                wanted = self._torch_shown and mine[0]
                if self._torch.display != wanted:
                    self._torch.display = wanted
            elif owner is self._summary and self._summary.display != mine[0]:
                self._summary.display = mine[0]

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
        self._summary.tooltip = None if gpu.available else no_gpu_line(gpu)  # the whole reason
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
        self._torch_shown = torch_memory is not None
        if torch_memory is not None:
            self._torch.set(_torch_text(torch_memory))
        self._host.show(snapshot.host, snapshot.cpu_history, self.narrow)
        self.fit_to_height()
