"""The utilisation of the GPU this process trains on, for the watchdog's `gpu_idle` rule.

NVML's numbering is not CUDA's (CUDA_VISIBLE_DEVICES, MIG), so the GPU is found by this
process's own context on it (`GpuProcess.is_self`); until the process shows up there (or
where a container hides process lists), the NVML index `fallback` is read instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tui_trainer.telemetry.gpu import GpuSnapshot, NvmlReader

EVERY = 2.0
"""Seconds between two NVML readings (the rule asks once a second)."""


class OwnGpuUtilization:
    """Callable: the run's GPU utilisation in % (the busiest of its GPUs), None when unknown.

    Not thread-safe (one `NvmlReader`): call it from one thread, the watchdog's."""

    def __init__(
        self,
        fallback: int | None,
        reader: NvmlReader | None = None,
        *,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fallback = fallback
        self.reader = reader or NvmlReader()
        self.every, self.clock = every, clock
        self._at: float | None = None
        self._value: float | None = None

    def __call__(self) -> float | None:
        """The latest reading (a new one at most every `every` seconds)."""
        now = self.clock()
        if self._at is None or now - self._at >= self.every:
            self._at, self._value = now, own_utilization(self.reader.read(), self.fallback)
        return self._value


def own_utilization(snapshot: GpuSnapshot, fallback: int | None) -> float | None:
    """Utilisation (%) of the GPUs holding this process's context, else of GPU `fallback`."""
    if not snapshot.available:
        return None
    gpus = [g for g in snapshot.gpus if not g.lost and g.utilization is not None]
    own = [g for g in gpus if any(p.is_self for p in g.processes)]
    if not own:
        own = [g for g in gpus if g.index == fallback]
    values = [float(g.utilization) for g in own if g.utilization is not None]
    return max(values) if values else None
