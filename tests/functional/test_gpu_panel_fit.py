"""The GPU panel degrades by priority in a short slot (issue 17: "at 80x24 the GPU panel shows
only its no-GPU sentence and the host lines are scrolled away"), and `tui.fit` itself."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pynvml
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fake_nvml import FakeNvml, StaticHostReader, fake_sampler, two_gpus
from test_gpu_panel import TCSS, _lines, _show
from textual.app import App, ComposeResult
from textual.containers import Vertical

from tui_trainer.telemetry.sampler import Sampler
from tui_trainer.tui.fit import Part, fit
from tui_trainer.tui.widgets.gpu_panel import GpuPanel


class SlotApp(App[None]):
    """The panel in a slot of the run screen's size (80x24: 25 columns, 4 rows inside)."""

    CSS_PATH: ClassVar[list] = [TCSS]
    CSS = "#slot { width: 27; height: 6; border: round white; }"

    def __init__(self, source: object) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        with Vertical(id="slot"):
            yield GpuPanel(self.source, interval=60.0)


def texts(panel: GpuPanel) -> list[str]:
    return [line.visual.plain for line in _lines(panel)]  # type: ignore[attr-defined]


def test_no_gpu_in_a_short_slot_keeps_the_host_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        fake = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND).install(monkeypatch)
        sampler = Sampler(gpu_reader=fake.reader(), host_reader=StaticHostReader())
        app = SlotApp(sampler.latest)
        async with app.run_test(size=(40, 12)) as pilot:
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())
            shown = texts(panel)
            assert shown[0].startswith("No NVIDIA GPU: no NVIDIA")  # one row, cut with …
            summary = app.query_one("#gpu-summary")
            assert summary.region.height == 1 and "not found" in str(summary.tooltip)
            assert any(t.startswith("CPU   42% of 8") for t in shown)
            assert any(t.startswith("this run 1.8 cores") for t in shown)
            assert panel.has_class("-tight") and panel.max_scroll_y == 0  # nothing scrolled away
            rows = {line.region.y for line in _lines(panel)}
            assert len(rows) == 4 and all(panel.content_region.y <= y < 5 for y in rows)

            app.query_one("#slot").styles.height = 12  # room again: everything, gaps too
            await pilot.pause()
            await pilot.pause()
            shown = texts(panel)
            assert any("workers" in t for t in shown) and any(t.startswith("RAM") for t in shown)
            assert not panel.has_class("-tight")

    asyncio.run(scenario())


def test_gpus_in_a_short_slot_keep_their_titles_util_and_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        fake = FakeNvml(two_gpus()).install(monkeypatch)
        sampler = fake_sampler(fake)
        app = SlotApp(sampler.latest)
        app.CSS = "#slot { width: 46; height: 12; border: round white; }"  # 10 rows
        async with app.run_test(size=(60, 14)) as pilot:
            panel = app.query_one(GpuPanel)
            await _show(pilot, panel, sampler.sample_now())
            text = "\n".join(texts(panel))
            for needed in ("GPU 0", "GPU 1", "util  97%", "mem   50%", "CPU   42% of 8"):
                assert needed in text, text
            assert "◀ this run" not in text  # processes are the first lines to go
            assert panel.max_scroll_y == 0

    asyncio.run(scenario())


parts = st.lists(
    st.builds(Part, st.integers(1, 5), st.integers(0, 6), st.integers(0, 1)), max_size=12
)


@given(st.integers(0, 40), parts)
def test_fit_keeps_the_most_needed_parts_that_fit(available: int, items: list[Part]) -> None:
    outcome = fit(available, items)
    total = sum(p.rows + p.gap for p in items)
    if total <= available:
        assert all(outcome.shown) and outcome.gaps
        return
    assert not outcome.gaps
    assert sum(p.rows for p, s in zip(items, outcome.shown, strict=True) if s) <= available
    for i, part in enumerate(items):  # dropped only when the more needed ones left no room
        if outcome.shown[i]:
            continue
        before = sum(
            q.rows
            for j, q in enumerate(items)
            if outcome.shown[j] and (q.priority, j) < (part.priority, i)
        )
        assert part.rows > available - before
