"""A screen whose rows are read again every few seconds while it is shown (runs, queue, sweep)."""

from __future__ import annotations

from typing import ClassVar

from textual.screen import Screen
from textual.timer import Timer


class RefreshingScreen(Screen[None]):
    """Reads its rows at mount and every `refresh_seconds` while shown; not while another
    screen covers it (a run being watched, a comparison), and at once when shown again."""

    refresh_seconds: ClassVar[float] = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None

    def reload(self) -> object:
        """Read the rows again (in a thread; the screen decides how: a worker, say)."""
        raise NotImplementedError

    def start_refreshing(self) -> None:
        """Read now, then every `refresh_seconds` (call from `on_mount`)."""
        self.reload()
        self._timer = self.set_interval(self.refresh_seconds, self.reload)

    def on_screen_suspend(self) -> None:
        """Not shown: stop refreshing."""
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        """Shown again: read at once, then refresh as before."""
        if self._timer is not None:
            self._timer.resume()
            self.reload()
