"""GpuPanel in a small Textual app, fed by a sampler over the fake NVML (no GPU needed)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

import pynvml
import pytest
from rich.cells import cell_len
from support.fake_nvml import GIB, FakeNvml, StaticHostReader, fake_sampler, two_gpus
from textual.app import App, ComposeResult
from textual.widget import Widget

from tui_trainer.telemetry.sampler import Sampler, TelemetrySnapshot
from tui_trainer.telemetry.torch_memory import TorchMemorySample
from tui_trainer.tui.widgets import gpu_panel
from tui_trainer.tui.widgets.gpu_panel import GpuPanel, Line

TCSS = Path(gpu_panel.__file__).with_name("gpu_panel.tcss")


class PanelApp(App[None]):
    CSS_PATH: ClassVar[list[str | Path]] = [TCSS]

    def __init__(self, source: object, interval: float = 60.0) -> None:
        super().__init__()
        self.source = source
        self.interval = interval

    def compose(self) -> ComposeResult:
        yield GpuPanel(self.source, interval=self.interval)


def _visible(widget: Widget) -> bool:
    return all(node.display for node in widget.ancestors_with_self if isinstance(node, Widget))


def _lines(panel: GpuPanel) -> list[Line]:
    return [line for line in panel.query(Line) if _visible(line)]


def _assert_fits(panel: GpuPanel) -> None:
    """Every visible line shows its whole text, one row per text line (nothing wrapped or cut)."""
    for line in _lines(panel):
        rows = line.visual.plain.split("\n")  # type: ignore[attr-defined]
        assert line.region.height == len(rows), rows
        assert all(cell_len(row) <= line.content_region.width for row in rows), rows


def _text(panel: GpuPanel) -> str:
    return "\n".join(line.visual.plain for line in _lines(panel))  # type: ignore[attr-defined]


async def _show(pilot, panel: GpuPanel, snapshot: TelemetrySnapshot) -> None:  # type: ignore[no-untyped-def]
    panel.show_snapshot(snapshot)
    await pilot.pause()
    await pilot.pause()


def test_two_gpus_with_processes_and_host(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        sampler = fake_sampler(fake)
        app = PanelApp(sampler.latest)
        async with app.run_test(size=(80, 40)) as pilot:
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())
            text = _text(panel)

            assert "Driver 550.54.15 · CUDA 12.4 · 2 GPUs" in text
            assert (
                "GPU 0  NVIDIA A100-SXM4-80GB" in text and "GPU 1  NVIDIA GeForce RTX 4090" in text
            )
            assert "P0  SM 1410 MHz" in text and "P8  SM 210 MHz" in text
            assert "util  97%" in text and "mem-bw  45%" in text
            assert "mem   50%" in text and "40.0/80.0 GiB" in text
            assert "temp 65°C   power 312/400 W   fan 30%" in text
            assert "temp 41°C   power N/A   fan N/A" in text  # unsupported on GPU 1
            assert "CPU   42% of 8" in text and "RAM 12.0/32.0 GiB" in text
            assert "this run 1.8 cores, 3.0 GiB   4 workers 3.2 cores, 2.0 GiB" in text

            rows = [line for line in _lines(panel) if line.has_class("gpu-proc")]
            ours = [line for line in rows if line.has_class("-self")]
            assert len(ours) == 1 and "◀ this run" in ours[0].visual.plain  # type: ignore[attr-defined]
            assert any("worker-4000001" in r.visual.plain for r in rows if r not in ours)  # type: ignore[attr-defined]
            assert any(r.visual.plain.strip() == "no processes" for r in rows)  # type: ignore[attr-defined]

            # Fits 80 columns: the panel is no wider and no line had to wrap.
            assert panel.region.width <= 80
            _assert_fits(panel)

    asyncio.run(scenario())


def test_compact_layout_in_a_40_column_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        sampler = fake_sampler(fake)
        app = PanelApp(sampler.latest)
        async with app.run_test(size=(42, 40)) as pilot:  # 40 columns inside the padding
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())
            assert panel.narrow and panel.has_class("-narrow")
            _assert_fits(panel)
            text = _text(panel)
            assert "65°C  312/400 W  fan 30%  P0  1410 MHz" in text  # clocks join the sensors
            assert "41°C  power N/A  fan N/A  P8  210 MHz" in text
            assert f"{os.getpid():>7} python" in text and "◀ this run" in text
            assert "RAM 12.0/32.0 GiB 38%\nthis run 1.8 cores" in text  # RAM: a line of its own

            await pilot.resize_terminal(80, 40)  # back to the full layout, same snapshot
            await pilot.pause()
            await pilot.pause()
            assert not panel.narrow
            assert "temp 65°C   power 312/400 W   fan 30%" in _text(panel)
            _assert_fits(panel)

    asyncio.run(scenario())


def test_history_and_only_changed_widgets_repaint(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        sampler = fake_sampler(fake)
        app = PanelApp(sampler.latest)
        async with app.run_test(size=(80, 40)) as pilot:
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())
            updated: list[Line] = []
            original = Line.update

            def spy(self: Line, *args: object, **kwargs: object) -> None:
                updated.append(self)
                original(self, *args, **kwargs)  # type: ignore[arg-type]

            monkeypatch.setattr(Line, "update", spy)
            panel.refresh_telemetry()  # same snapshot: nothing to do
            assert updated == []

            fake.gpus[0].utilization = 55
            await _show(pilot, panel, sampler.sample_now())
            assert [line.visual.plain for line in updated] == ["util  55% "]  # type: ignore[attr-defined]
            block0 = panel._blocks[0]
            assert block0.util_history.data == [97.0, 55.0]
            assert isinstance(block0.util_history.data, list)

    asyncio.run(scenario())


def test_process_rows_follow_the_process_list(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        sampler = fake_sampler(fake)
        app = PanelApp(sampler.latest)
        async with app.run_test(size=(80, 40)) as pilot:
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())

            def rows(index: int) -> list[str]:
                block = panel._blocks[index]
                return [
                    line.visual.plain.strip()  # type: ignore[attr-defined]
                    for line in block.procs.query(Line)
                    if _visible(line)
                ]

            assert len(rows(0)) == 3 and rows(1) == ["no processes"]
            fake.gpus[0].compute, fake.gpus[0].graphics = [], []
            fake.gpus[1].compute = [(os.getpid(), GIB)]
            await _show(pilot, panel, sampler.sample_now())
            assert rows(0) == ["no processes"]
            assert len(rows(1)) == 1 and rows(1)[0].endswith("1.0 GiB  ◀ this run")
            assert not any(line.has_class("-self") for line in panel._blocks[0].procs.query(Line))

    asyncio.run(scenario())


def test_lost_gpu_is_marked_and_the_other_keeps_updating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        sampler = fake_sampler(fake)
        app = PanelApp(sampler.latest)
        async with app.run_test(size=(80, 40)) as pilot:
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())
            fake.gpus[1].lost = True
            fake.gpus[0].utilization = 12
            await _show(pilot, panel, sampler.sample_now())

            text = _text(panel)
            assert "2 GPUs · 1 lost" in text
            assert "GPU lost (GPU is lost): no more readings from this GPU" in text
            assert "util  12%" in text and "util  97%" not in text  # GPU 0 fresh; GPU 1 rows hidden
            lost_block = panel._blocks[1]
            assert lost_block.has_class("-lost") and not panel._blocks[0].has_class("-lost")
            assert not lost_block.util_row.display and not lost_block.procs.display

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (
            pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,
            "No NVIDIA GPU: no NVIDIA driver installed (libnvidia-ml.so.1 not found)",
        ),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "No NVIDIA GPU: NVIDIA driver not loaded"),
    ],
)
def test_no_gpu_shows_one_reason_line_and_a_live_host(
    monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    async def scenario() -> None:
        fake = FakeNvml(init_error=code).install(monkeypatch)
        host = StaticHostReader()
        sampler = Sampler(gpu_reader=fake.reader(), host_reader=host)
        app = PanelApp(sampler.latest)
        async with app.run_test(size=(80, 24)) as pilot:
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())
            lines = [line.visual.plain for line in _lines(panel)]  # type: ignore[attr-defined]
            assert lines[0] == reason
            assert app.query_one("#gpu-summary").has_class("-no-gpu")
            assert panel._blocks == {} and "GPU 0" not in "\n".join(lines)
            assert any("CPU   42% of 8" in line for line in lines)

            # The host block keeps updating.
            host.sample = type(host.sample)(**{**host.sample.__dict__, "cpu_percent": 77.0})
            await _show(pilot, panel, sampler.sample_now())
            assert "CPU   77% of 8" in _text(panel)

    asyncio.run(scenario())


def test_torch_memory_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        mem = TorchMemorySample("cuda:0", GIB, 2 * GIB, 3 * GIB // 2)
        sampler = Sampler(
            gpu_reader=fake.reader(), host_reader=StaticHostReader(), torch_reader=lambda d: mem
        )
        app = PanelApp(sampler.latest)
        async with app.run_test(size=(80, 40)) as pilot:
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())
            assert "PyTorch cuda:0  allocated 1.0 GiB · reserved 2.0 GiB · peak 1.5 GiB" in _text(
                panel
            )

    asyncio.run(scenario())


def test_panel_survives_a_failing_source(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        sampler = fake_sampler(fake)
        failing = [True]

        def source() -> TelemetrySnapshot | None:
            if failing[0]:
                raise RuntimeError("sampler broke")
            return sampler.latest()

        app = PanelApp(source)
        async with app.run_test(size=(80, 40)) as pilot:
            panel = app.query_one(GpuPanel)
            panel.refresh_telemetry()
            await pilot.pause()
            assert app.is_running
            assert "GPU panel error: RuntimeError: sampler broke" in _text(panel)

            failing[0] = False
            sampler.sample_now()
            panel.refresh_telemetry()
            await pilot.pause()
            await pilot.pause()
            assert "Driver 550.54.15" in _text(panel) and panel.last_error is None

    asyncio.run(scenario())


def test_refreshes_on_its_own_timer_from_a_running_sampler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        sampler = fake_sampler(fake, interval=0.02)
        app = PanelApp(sampler, interval=0.05)  # a Sampler works as the source directly
        sampler.start()
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                panel = app.query_one(GpuPanel)
                fake.gpus[0].utilization = 33
                for _ in range(200):  # a few refreshes; up to 10 s on a loaded machine
                    await pilot.pause(0.05)
                    if "util  33%" in _text(panel):
                        break
                assert "util  33%" in _text(panel)
                # The refresh that showed the change may also have mounted the process rows
                # (the first sample can already hold it on a loaded machine): let the layout
                # that follows it run before measuring the rows.
                await pilot.pause()
                await pilot.pause()
                _assert_fits(panel)
        finally:
            sampler.stop()

    asyncio.run(scenario())


def test_rejects_a_source_that_is_not_callable() -> None:
    with pytest.raises(TypeError):
        GpuPanel(object())  # type: ignore[arg-type]
