"""GPU (NVML) and host telemetry, sampled in the background; no UI imports here.

The TUI reads :meth:`Sampler.latest` on its own timer; ``tui-trainer gpus`` prints
:func:`format_table` once (:func:`print_table`) or in a loop (:func:`watch_table`).
"""

from tui_trainer.telemetry.gpu import GpuProcess, GpuSample, GpuSnapshot, NvmlReader, NvmlSession
from tui_trainer.telemetry.host import HostReader, HostSample
from tui_trainer.telemetry.sampler import GpuHistory, Sampler, TelemetrySnapshot
from tui_trainer.telemetry.table import format_table, print_table, watch_table
from tui_trainer.telemetry.torch_memory import TorchMemorySample, read_torch_memory

__all__ = [
    "GpuHistory",
    "GpuProcess",
    "GpuSample",
    "GpuSnapshot",
    "HostReader",
    "HostSample",
    "NvmlReader",
    "NvmlSession",
    "Sampler",
    "TelemetrySnapshot",
    "TorchMemorySample",
    "format_table",
    "print_table",
    "read_torch_memory",
    "watch_table",
]
