"""Plain-text GPU table for ``tui-trainer gpus``: an nvidia-smi replacement that works anywhere.

Fixed-width ASCII, 80 columns (wider when asked), one row per GPU, then the processes and the
host. No UI library is imported here; the value formatters are shared with the TUI panel.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from typing import TextIO

from tui_trainer.telemetry.gpu import GpuSample, GpuSnapshot
from tui_trainer.telemetry.host import HostSample
from tui_trainer.telemetry.sampler import Sampler, TelemetrySnapshot
from tui_trainer.telemetry.torch_memory import TorchMemorySample

__all__ = [
    "NA",
    "format_bytes",
    "format_memory_pair",
    "format_power",
    "format_table",
    "no_gpu_line",
    "print_table",
    "watch_table",
]

NA = "N/A"
GIB = 1024**3
MIB = 1024**2
MIN_WIDTH = 80
MAX_TABLE_WIDTH = 110  # beyond this the name columns stop growing
_CLEAR_SCREEN = "\x1b[H\x1b[2J"
_HOME = "\x1b[H"
_CLEAR_LINE_END = "\x1b[K"
_CLEAR_BELOW = "\x1b[J"
PRIME_SECONDS = 0.2  # between the baseline sample and the one printed (CPU % needs an interval)


def format_bytes(value: int | None) -> str:
    """``N/A``, ``512 MiB`` or ``40.1 GiB``."""
    if value is None:
        return NA
    if value < GIB:
        return f"{value / MIB:.0f} MiB"
    return f"{value / GIB:.1f} GiB"


def format_memory_pair(used: int | None, total: int | None) -> str:
    """``40.1/80.0 GiB`` (both in GiB so the two numbers compare at a glance)."""
    if used is None and total is None:
        return NA
    used_s = NA if used is None else f"{used / GIB:.1f}"
    total_s = NA if total is None else f"{total / GIB:.1f}"
    return f"{used_s}/{total_s} GiB"


def format_power(draw: float | None, limit: float | None) -> str:
    """``312/400 W``, ``312 W`` (no limit), ``N/A/400 W`` (no draw) or ``N/A``."""
    if draw is None and limit is None:
        return NA
    if limit is None:
        return f"{draw:.0f} W"
    draw_s = NA if draw is None else f"{draw:.0f}"
    return f"{draw_s}/{limit:.0f} W"


def _percent(value: float | None) -> str:
    return NA if value is None else f"{value:.0f}%"


def _temp(value: int | None) -> str:
    return NA if value is None else f"{value}C"


def _pstate(value: int | None) -> str:
    return NA if value is None else f"P{value}"


def _num(value: int | None) -> str:
    return NA if value is None else str(value)


def no_gpu_line(gpu: GpuSnapshot) -> str:
    """The one line shown instead of the GPU table when there is no usable NVIDIA GPU."""
    return f"No NVIDIA GPU: {gpu.reason or 'unknown reason'}"


def _cut(text: str, width: int) -> str:
    """Fit ``text`` into ``width`` columns (drop a leading "NVIDIA ", then truncate with "~")."""
    if len(text) <= width:
        return text
    if text.startswith("NVIDIA "):
        text = text[len("NVIDIA ") :]
        if len(text) <= width:
            return text
    return text[: max(0, width - 1)] + "~"


def _host_lines(host: HostSample | None) -> list[str]:
    if host is None:
        return ["Host: N/A"]
    ram = format_memory_pair(host.memory_used, host.memory_total)
    return [
        f"Host: CPU {_percent(host.cpu_percent)} of {host.cpu_count} cores   "
        f"RAM {ram} ({host.memory_percent:.0f}%)"
    ]


def _torch_line(mem: TorchMemorySample) -> str:
    return (
        f"PyTorch {mem.device}: allocated {format_bytes(mem.allocated)}   "
        f"reserved {format_bytes(mem.reserved)}   peak {format_bytes(mem.peak_allocated)}"
    )


# (header, width) of the fixed columns after GPU index and name; all right-aligned.
_COLUMNS = (
    ("Util", 4),
    ("MemU", 4),
    ("Mem used/total", 15),
    ("Temp", 4),
    ("Power", 10),
    ("Fan", 4),
    ("Perf", 4),
    ("SM MHz", 6),
)


def _gpu_row(gpu: GpuSample, name_width: int) -> str:
    head = f"{gpu.index:>3} {_cut(gpu.name, name_width):<{name_width}}"
    if gpu.lost:
        return f"{head} GPU LOST ({gpu.lost_reason or 'not answering'})"
    values = (
        _percent(gpu.utilization),
        _percent(gpu.memory_utilization),
        format_memory_pair(gpu.memory_used, gpu.memory_total),
        _temp(gpu.temperature),
        format_power(gpu.power_draw, gpu.power_limit),
        _percent(gpu.fan_speed),
        _pstate(gpu.pstate),
        _num(gpu.sm_clock),
    )
    cells = " ".join(f"{v:>{w}}" for v, (_, w) in zip(values, _COLUMNS, strict=True))
    return f"{head} {cells}"


def format_table(snapshot: TelemetrySnapshot, *, width: int = MIN_WIDTH) -> str:
    """Format ``snapshot`` as a fixed-width text table (at least 80 columns; no line is wider).

    GPU names get the extra room when ``width`` is above 80. Unsupported fields show ``N/A``; a
    lost GPU shows ``GPU LOST``; without a GPU the table is one line saying why, then the host.
    """
    width = max(MIN_WIDTH, width)
    table_width = min(width, MAX_TABLE_WIDTH)
    gpu = snapshot.gpu
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snapshot.timestamp))
    lines: list[str] = []
    if not gpu.available:
        lines.append(no_gpu_line(gpu))
    else:
        facts = (
            f"Driver {gpu.driver_version or NA}   CUDA {gpu.cuda_version or NA}   "
            f"{len(gpu.gpus)} GPU{'s' if len(gpu.gpus) != 1 else ''}"
        )
        lines.append(f"{facts}{stamp:>{table_width - len(facts)}}")
        fixed = sum(w + 1 for _, w in _COLUMNS)
        name_width = table_width - 4 - 1 - fixed
        header = " ".join(f"{h:>{w}}" for h, w in _COLUMNS)
        lines.append(f"GPU {'Name':<{name_width}} {header}")
        lines.append("-" * table_width)
        lines.extend(_gpu_row(sample, name_width) for sample in gpu.gpus)
        lines.append("")
        lines.extend(_process_lines(gpu, table_width))
    lines.append("")
    if snapshot.torch_memory is not None:
        lines.append(_torch_line(snapshot.torch_memory))
    lines.extend(_host_lines(snapshot.host))
    if not gpu.available:
        lines.append(stamp)
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if len(line) <= width:
            out.append(line)
        else:  # only free text (a reason, an error) can be this long: wrap it
            out.extend(textwrap.wrap(line, width, subsequent_indent="  "))
    return "\n".join(out) + "\n"


def _process_lines(gpu: GpuSnapshot, width: int) -> list[str]:
    name_width = width - 3 - 1 - 8 - 1 - 4 - 1 - 12 - 1
    lines = [f"GPU      PID Type {'Process name':<{name_width}} {'GPU memory':>12}"]
    rows = [(sample.index, proc) for sample in gpu.gpus for proc in sample.processes]
    if not rows:
        lines.append("    no running processes found")
    for index, proc in rows:
        name = f"{proc.name} (this run)" if proc.is_self else proc.name
        lines.append(
            f"{index:>3} {proc.pid:>8} {proc.kind:<4} {_cut(name, name_width):<{name_width}} "
            f"{format_bytes(proc.used_memory):>12}"
        )
    return lines


def _terminal_width() -> int:
    return max(MIN_WIDTH, shutil.get_terminal_size((MIN_WIDTH, 24)).columns)


def print_table(out: TextIO | None = None, *, sampler: Sampler | None = None) -> int:
    """Print the table once (``tui-trainer gpus``). Returns exit code 0, GPU or not."""
    out = out or sys.stdout
    sampler = sampler or Sampler()
    _prime(sampler)
    out.write(format_table(sampler.sample_now(), width=_terminal_width() if out.isatty() else 80))
    out.flush()
    return 0


def watch_table(
    interval: float = 1.0,
    *,
    out: TextIO | None = None,
    sampler: Sampler | None = None,
    iterations: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Redraw the table every ``interval`` seconds (``tui-trainer gpus --watch``) until Ctrl-C.

    Clears the screen with ANSI codes when ``out`` is a terminal. ``iterations`` bounds the loop
    (for tests). Returns exit code 0, also on Ctrl-C.
    """
    out = out or sys.stdout
    sampler = sampler or Sampler(interval=interval)
    tty = out.isatty()
    try:
        _prime(sampler)
        count = 0
        while iterations is None or count < iterations:
            width = _terminal_width() if tty else MIN_WIDTH
            table = format_table(sampler.sample_now(), width=width)
            if tty:  # redraw in place (no full clear per frame, so no flicker)
                # Erase the rest of each line, except a full one (erasing there would eat its
                # last character on terminals that defer the wrap).
                table = (_CLEAR_SCREEN if count == 0 else _HOME) + "".join(
                    f"{line}{_CLEAR_LINE_END if len(line) < width else ''}\n"
                    for line in table.splitlines()
                )
                table += _CLEAR_BELOW
            elif count:
                table = "\n" + table  # a blank line between frames in a log
            out.write(table)
            out.flush()
            count += 1
            if iterations is None or count < iterations:
                sleep(interval)
    except KeyboardInterrupt:
        if tty:
            out.write("\n")
            out.flush()
    return 0


def _prime(sampler: Sampler) -> None:
    """Take a first sample so CPU percentages have a baseline, then let them mean something."""
    sampler.sample_now()
    time.sleep(PRIME_SECONDS)
