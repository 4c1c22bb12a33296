"""The GPU panel's slot: the live telemetry panel, reading the app's one sampler."""

from __future__ import annotations

import os
from collections.abc import Callable

from textual.widget import Widget

from tui_trainer.telemetry.host import HostReader, HostSample
from tui_trainer.telemetry.sampler import Sampler
from tui_trainer.tui.widgets.gpu_panel import GpuPanel

GpuPanelFactory = Callable[[], Widget]


def gpu_panel_factory(sampler: Sampler) -> GpuPanelFactory:
    """Build GPU panels that read the app's one telemetry sampler (NVML + host)."""

    def make() -> Widget:
        return GpuPanel(sampler)

    return make


class FollowedHost:
    """The sampler's host reader whose "this run" is the process of the run on screen: this
    one for a run trained here, the run's own process for a watched one (`follow`)."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid if pid is not None else os.getpid()
        self._reader = HostReader(self.pid)

    def follow(self, pid: int | None) -> None:
        """Read `pid` from the next sample on (None: this process)."""
        pid = pid if pid is not None else os.getpid()
        if pid != self.pid:
            self.pid = pid
            self._reader = HostReader(pid)  # swapped whole: the sampler thread reads one

    def read(self) -> HostSample:
        """One reading of the machine and of the followed process (the sampler's thread)."""
        return self._reader.read()
