"""Host telemetry through psutil: machine CPU and RAM, this process, and its child processes.

Child processes are counted as the run's workers: PyTorch ``DataLoader`` workers (fork, spawn or
forkserver) are descendants of the training process. Process CPU is in "cores" like ``top``
(100 % = one core busy); the machine CPU is a percentage of all cores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

__all__ = ["HostReader", "HostSample"]

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


@dataclass(frozen=True)
class HostSample:
    """One reading of the machine and of this run's processes."""

    cpu_percent: float | None  # whole machine, 0..100; None before a baseline exists
    cpu_count: int  # logical CPUs
    memory_used: int  # bytes (total minus available)
    memory_total: int  # bytes
    process_cpu_percent: float | None  # this process; 100 = one core; None on the first reading
    process_rss: int | None  # bytes
    worker_count: int  # live child processes (data loader workers and their helpers)
    workers_cpu_percent: float | None  # all children together; 100 = one core
    workers_rss: int | None  # bytes, summed (pages shared after fork are counted per process)

    @property
    def memory_percent(self) -> float:
        """Used RAM as a percentage of the total."""
        return 100.0 * self.memory_used / self.memory_total if self.memory_total else 0.0


class HostReader:
    """Reads :class:`HostSample` values; keeps the per-process baselines that CPU % needs.

    psutil measures CPU use between two calls, so the first reading has no CPU figures (``None``)
    unless :meth:`prime` ran a moment before. Not thread-safe: use one reader per thread.
    """

    def __init__(self, pid: int | None = None) -> None:
        self._pid = pid if pid is not None else os.getpid()
        self._process: psutil.Process | None = None
        self._children: dict[int, psutil.Process] = {}
        self._primed = False

    def read(self) -> HostSample:
        """Take one reading. Never raises for processes that vanish meanwhile."""
        first = not self._primed
        self._primed = True
        machine_cpu = psutil.cpu_percent(interval=None)
        memory = psutil.virtual_memory()
        process_cpu, process_rss = self._read_self()
        count, workers_cpu, workers_rss = self._read_children()
        return HostSample(
            cpu_percent=None if first else machine_cpu,
            cpu_count=psutil.cpu_count() or 1,
            memory_used=int(memory.total - memory.available),
            memory_total=int(memory.total),
            process_cpu_percent=None if first else process_cpu,
            process_rss=process_rss,
            worker_count=count,
            workers_cpu_percent=None if first else workers_cpu,
            workers_rss=workers_rss if count else None,
        )

    def _read_self(self) -> tuple[float | None, int | None]:
        try:
            if self._process is None:
                self._process = psutil.Process(self._pid)
            with self._process.oneshot():
                return self._process.cpu_percent(None), int(self._process.memory_info().rss)
        except _GONE:
            return None, None

    def _read_children(self) -> tuple[int, float | None, int | None]:
        if self._process is None:
            return 0, None, None
        try:
            current = self._process.children(recursive=True)
        except _GONE:
            current = []
        children: dict[int, psutil.Process] = {}
        for child in current:
            known = self._children.get(child.pid)
            # Keep the old object (it holds the CPU baseline) unless the PID was reused.
            children[child.pid] = known if known is not None and known == child else child
        self._children = children
        cpu = 0.0
        rss = 0
        alive = 0
        for child in children.values():
            try:
                with child.oneshot():
                    if child.status() == psutil.STATUS_ZOMBIE:
                        continue
                    cpu += child.cpu_percent(None)
                    rss += int(child.memory_info().rss)
                alive += 1
            except _GONE:
                continue
        return alive, cpu, rss
