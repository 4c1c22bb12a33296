"""The log pane: phase changes, checkpoints, warnings, errors and tracebacks.

Lines are wrapped here, to the pane's width, by `formatting.wrap_text` (paths break at their
separators, not mid-word), and wrapped again when the pane's width changes. The pane follows
the newest line, across resizes too, unless the reader scrolled up: then it keeps showing the
line they were reading.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import RichLog

from tui_trainer import formatting as fmt
from tui_trainer.tui.model import LogLine

MAX_LINES = 2000

MARKS = {"info": "·", "warning": "▲", "error": "✖", "trace": " "}
INDENT = 2
"""Cells before each line's text (its mark and a space); continuation lines line up with it."""


class RunLog(RichLog):
    """A wrapping log of `LogLine`s, coloured by level from the theme, following the newest.

    The scrollbar's gutter is always kept: lines are wrapped to the width beside it, so the
    scrollbar appearing when the log overflows does not cut the lines already written."""

    DEFAULT_CSS = """
    RunLog { scrollbar-gutter: stable; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            wrap=True,
            markup=False,
            highlight=False,
            max_lines=MAX_LINES,
            min_width=20,
            auto_scroll=False,  # `add` decides: follow only while the end is in view
        )
        self.lines_written: list[LogLine] = []
        self._starts: list[int] = []  # the first screen line of each written line
        self._wrapped_at = 0
        self.following = True  # False once the reader scrolled up from the newest line
        self._rebuilding = False

    def add(self, lines: list[LogLine]) -> None:
        """Append `lines` (in one batch); scrolls to them only while following."""
        if not lines:
            return
        theme = self.app.theme_variables
        styles = {
            "warning": theme.get("warning", "yellow"),
            "error": f"bold {theme.get('error', 'red')}",
            "trace": theme.get("error", "red"),
        }
        width = self.scrollable_content_region.width
        if self.lines_written and width != self._wrapped_at and not self._rebuilding:
            self._rewrap()  # the width changed before its resize event came
        self._wrapped_at = width
        for line in lines:
            self.lines_written.append(line)
            style = styles.get(line.level, "")
            body = fmt.wrap_text(line.text, width - INDENT) if width > INDENT + 8 else [line.text]
            text = Text(f"{MARKS.get(line.level, '·')} ", style=styles.get(line.level, "dim"))
            text.append(body[0], style=style)
            for more in body[1:]:
                text.append("\n" + " " * INDENT + more, style=style)
            self._starts.append(len(self.lines) + self._start_line)
            self.write(text, scroll_end=self.following)
        if len(self.lines_written) > MAX_LINES:
            del self.lines_written[:-MAX_LINES]
            del self._starts[:-MAX_LINES]

    def watch_scroll_y(self, old: float, new: float) -> None:
        """The reader scrolled: follow again once they are back at the newest line."""
        super().watch_scroll_y(old, new)
        if not self._rebuilding:
            self.following = new >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        """Re-wrap every line for the new width (RichLog keeps lines as first rendered)."""
        width = self.scrollable_content_region.width
        if width != self._wrapped_at and self.lines_written:
            self._rewrap()
        elif self.following:
            self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)

    def _rewrap(self) -> None:
        """Wrap every line again for `width`, keeping the view on the newest line or the
        reader's."""
        top = self._top_line()
        self._rebuilding = True
        try:
            lines, self.lines_written, self._starts = self.lines_written, [], []
            self.clear()
            self.add(lines)
        finally:
            self._rebuilding = False
        if self.following:
            self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)
        else:  # keep the line the reader was at on top
            y = self._starts[top] - self._start_line if top < len(self._starts) else 0
            self.call_after_refresh(self.scroll_to, y=y, animate=False)

    def _top_line(self) -> int:
        """The index of the written line at the top of the view."""
        y = round(self.scroll_y) + self._start_line
        index = 0
        for i, start in enumerate(self._starts):
            if start > y:
                break
            index = i
        return index

    @property
    def plain_text(self) -> str:
        """Everything written so far, as plain text (for tests and copying)."""
        return "\n".join(line.text for line in self.lines_written)
