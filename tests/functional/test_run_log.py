"""The log pane follows the newest line across resizes unless the reader scrolled up, and
wraps paths at their separators (issue 17)."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from tui_trainer import formatting as fmt
from tui_trainer.tui.model import LogLine
from tui_trainer.tui.widgets.run_log import RunLog

PATH = "/home/someone/projects/vision/runs/quickstart/20261201-123029/checkpoints/last.pt"


class LogApp(App[None]):
    CSS = "RunLog { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield RunLog(id="log")


def shown(log: RunLog) -> list[str]:
    """The screen lines of the log in view now."""
    top = round(log.scroll_y)
    return [strip.text.rstrip() for strip in log.lines[top : top + log.size.height]]


def test_the_log_follows_the_newest_line_across_resizes_unless_scrolled_up() -> None:
    async def scenario() -> None:
        app = LogApp()
        async with app.run_test(size=(60, 10)) as pilot:
            log = app.query_one(RunLog)
            log.add([LogLine("info", f"line {i}") for i in range(40)])
            await pilot.pause()
            assert shown(log)[-1] == "· line 39"
            for size in ((40, 8), (80, 12), (50, 6)):  # narrower, wider, shorter
                await pilot.resize_terminal(*size)
                await pilot.pause()
                await pilot.pause()
                assert shown(log)[-1] == "· line 39", size
            log.scroll_to(y=5, animate=False)  # the reader scrolls up to line 5
            await pilot.pause()
            assert not log.following and shown(log)[0] == "· line 5"
            log.add([LogLine("info", "line 40")])  # news does not pull the view down
            await pilot.pause()
            assert shown(log)[0] == "· line 5"
            await pilot.resize_terminal(30, 8)  # nor does a resize
            await pilot.pause()
            await pilot.pause()
            assert shown(log)[0] == "· line 5"
            log.scroll_end(animate=False)  # back at the end: following again
            await pilot.pause()
            log.add([LogLine("info", "line 41")])
            await pilot.pause()
            await pilot.pause()
            assert log.following and shown(log)[-1] == "· line 41"

    asyncio.run(scenario())


def test_paths_in_the_log_break_at_separators() -> None:
    async def scenario() -> None:
        app = LogApp()
        async with app.run_test(size=(34, 10)) as pilot:
            log = app.query_one(RunLog)
            log.add([LogLine("info", f"checkpoint saved (request): {PATH}")])
            await pilot.pause()
            lines = [strip.text.rstrip() for strip in log.lines]
            assert lines[0] == "· checkpoint saved (request):"
            assert all(line.endswith("/") for line in lines[1:-1]), lines
            assert "".join(line.strip() for line in lines[1:]) == PATH
            assert all(len(line) <= 32 for line in lines)  # 34 columns less the scrollbar

    asyncio.run(scenario())


words = st.lists(
    st.text(alphabet="abc/-_. ", min_size=1, max_size=40).filter(lambda w: w.strip()),
    min_size=1,
    max_size=8,
)


@given(words, st.integers(1, 30))
def test_wrapping_keeps_every_character_and_the_width(parts: list[str], width: int) -> None:
    text = " ".join(parts)
    lines = fmt.wrap_text(text, width)
    assert all(len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost


def test_long_words_break_at_separators_first() -> None:
    assert fmt.wrap_text("run directory: runs/quickstart/20261201-123029", 20) == [
        "run directory:",
        "runs/quickstart/",
        "20261201-123029",
    ]
    assert fmt.wrap_text("a_very_long_name_without_slashes", 12) == [
        "a_very_long_",
        "name_",
        "without_",
        "slashes",
    ]
    assert fmt.wrap_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]  # the last resort


def test_lines_added_before_the_resize_event_rewrap_the_old_ones() -> None:
    """A batch can arrive after the width changed and before its resize event: every line
    is wrapped again then, not only the new ones."""

    async def scenario() -> None:
        app = LogApp()
        async with app.run_test(size=(34, 10)) as pilot:
            log = app.query_one(RunLog)
            log.add([LogLine("info", f"saved: {PATH}")])
            await pilot.pause()
            log._wrapped_at = 60  # as if the old lines were wrapped for a wider pane
            log.lines.clear()  # (and rendered that way)
            log.add([LogLine("info", "next")])
            await pilot.pause()
            texts = [strip.text.rstrip() for strip in log.lines]
            assert texts[0] == "· saved:" and texts[-1] == "· next"
            assert all(len(text) <= 32 for text in texts)

    asyncio.run(scenario())
