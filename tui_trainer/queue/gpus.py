"""The GPUs as the queue's scheduler sees them: each GPU's memory, whether someone else's
process uses it, and the memory each of the queue's own processes holds (NVML)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

from tui_trainer.queue.admission import GpuState

if TYPE_CHECKING:
    from tui_trainer.telemetry.gpu import NvmlReader


@dataclass(frozen=True)
class GpuReading:
    """The GPUs now, and the memory each process holds on each GPU (MiB)."""

    gpus: list[GpuState]
    process_mb: dict[int, dict[int, float]]  # pid -> {gpu index: MiB}


GpuReader = Callable[[Sequence[int]], GpuReading]
"""Reads the GPUs; the argument is every pid that belongs to the queue's jobs (not foreign)."""


def nvml_reader(reader: NvmlReader | None = None) -> GpuReader:
    """A GpuReader over NVML (`telemetry.gpu`; `reader`: a reader of your own, as tests pass
    one over the NVML fake); no GPUs when NVML is missing."""
    if reader is None:
        from tui_trainer.telemetry.gpu import NvmlReader

        reader = NvmlReader()
    me = os.getpid()

    def read(ours: Sequence[int]) -> GpuReading:
        snapshot = reader.read()
        if not snapshot.available:
            return GpuReading([], {})
        mine = set(ours) | {me}
        gpus: list[GpuState] = []
        per_pid: dict[int, dict[int, float]] = {}
        for g in snapshot.gpus:
            foreign = False
            for p in g.processes:
                if "C" not in p.kind:
                    continue
                if p.pid in mine:
                    if p.used_memory is not None:
                        per_pid.setdefault(p.pid, {})[g.index] = p.used_memory / 2**20
                elif psutil.pid_exists(p.pid):  # a host pid inside a container is not ours
                    foreign = True
            gpus.append(
                GpuState(
                    index=g.index,
                    memory_total_mb=None if g.memory_total is None else g.memory_total / 2**20,
                    memory_used_mb=None if g.memory_used is None else g.memory_used / 2**20,
                    foreign=foreign,
                    lost=g.lost,
                )
            )
        return GpuReading(gpus, per_pid)

    return read


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (torchrun's workers)."""
    try:
        proc = psutil.Process(pid)
        return [pid, *(c.pid for c in proc.children(recursive=True))]
    except psutil.Error:
        return []
