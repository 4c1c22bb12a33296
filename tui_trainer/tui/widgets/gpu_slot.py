"""The GPU panel's slot: the live telemetry panel, or a placeholder (tests, snapshots)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widget import Widget
from textual.widgets import Static

from tui_trainer.telemetry.sampler import Sampler
from tui_trainer.tui.widgets.gpu_panel import GpuPanel

GpuPanelFactory = Callable[[], Widget]


class NoGpuPanel(Static):
    """Placeholder shown in the GPU slot when no telemetry is available."""

    def __init__(self) -> None:
        super().__init__("no GPU telemetry available", id="no-gpu", markup=False)


def gpu_panel_factory(sampler: Sampler) -> GpuPanelFactory:
    """Build GPU panels that read the app's one telemetry sampler (NVML + host)."""

    def make() -> Widget:
        return GpuPanel(sampler)

    return make
