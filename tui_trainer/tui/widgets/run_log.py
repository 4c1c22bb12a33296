"""The log pane: phase changes, checkpoints, warnings, errors and tracebacks."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from tui_trainer.tui.model import LogLine

MAX_LINES = 2000

MARKS = {"info": "·", "warning": "▲", "error": "✖", "trace": " "}


class RunLog(RichLog):
    """A wrapping, auto-scrolling log of `LogLine`s, coloured by level from the theme."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, wrap=True, markup=False, highlight=False, max_lines=MAX_LINES, min_width=20
        )
        self.lines_written: list[LogLine] = []
        self._wrapped_at = 0

    def add(self, lines: list[LogLine]) -> None:
        """Append `lines` (in one batch)."""
        if not lines:
            return
        theme = self.app.theme_variables
        styles = {
            "warning": theme.get("warning", "yellow"),
            "error": f"bold {theme.get('error', 'red')}",
            "trace": theme.get("error", "red"),
        }
        self._wrapped_at = self.scrollable_content_region.width
        for line in lines:
            self.lines_written.append(line)
            text = Text(f"{MARKS.get(line.level, '·')} ", style=styles.get(line.level, "dim"))
            text.append(line.text, style=styles.get(line.level, ""))
            self.write(text)
        del self.lines_written[:-MAX_LINES]

    def on_resize(self) -> None:
        """Re-wrap every line for the new width (RichLog keeps lines as first rendered)."""
        width = self.scrollable_content_region.width
        if width != self._wrapped_at and self.lines_written:
            self._wrapped_at = width
            lines, self.lines_written = self.lines_written, []
            self.clear()
            self.add(lines)

    @property
    def plain_text(self) -> str:
        """Everything written so far, as plain text (for tests and copying)."""
        return "\n".join(line.text for line in self.lines_written)
