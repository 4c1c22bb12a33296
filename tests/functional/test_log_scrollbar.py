"""The log pane keeps every character when its scrollbar appears (issue 22)."""

from __future__ import annotations

from pathlib import Path

from support.pilot import run
from textual.app import App, ComposeResult

import tui_trainer.tui.app as app_module
from tui_trainer.tui.model import LogLine
from tui_trainer.tui.widgets.run_log import RunLog


class LogApp(App[None]):
    CSS_PATH = str(Path(app_module.__file__).parent / "run.tcss")  # the run screen's RunLog

    def compose(self) -> ComposeResult:
        yield RunLog(id="log")


def test_lines_written_before_the_scrollbar_appears_are_not_cut() -> None:
    """Lines that filled the pane's width lost their last character once later lines
    overflowed the pane and the scrollbar took a column."""

    async def scenario() -> None:
        app = LogApp()
        async with app.run_test(size=(40, 8)) as pilot:
            log = app.query_one(RunLog)
            await pilot.pause()
            long = [f"{'x' * 36}{i:02d}" for i in range(3)]  # the pane's full width
            log.add([LogLine("info", text) for text in long])
            await pilot.pause()
            log.add([LogLine("info", f"short {i}") for i in range(6)])  # overflows
            await pilot.pause()
            await pilot.pause()
            assert log.max_scroll_y > 0  # the scrollbar is there
            visible = log.scrollable_content_region.width
            rows = [strip.text for strip in log.lines]
            assert all(len(row.rstrip()) <= visible for row in rows), rows
            shown = "".join(row[2:].rstrip() for row in rows)  # the marks and indents off
            for text in long:
                assert text in shown

    run(scenario())
