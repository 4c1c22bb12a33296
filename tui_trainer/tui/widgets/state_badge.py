"""The run's state as a coloured badge: RUNNING, PAUSED, CHECKPOINTING, STOPPING, FINISHED…"""

from __future__ import annotations

from textual.widgets import Static

ICONS = {
    "starting": "◌",
    "running": "▶",
    "pausing": "‖",
    "paused": "‖",
    "resuming": "▶",
    "checkpointing": "◆",
    "stopping": "■",
    "finished": "✔",
    "stopped": "■",
    "pruned": "■",
    "interrupted": "■",
    "failed": "✖",
}


class StateBadge(Static):
    """Shows one state word; its CSS class (``-running``, ``-paused``…) picks the colours."""

    def __init__(self, state: str = "starting", *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.state = ""
        self.set_state(state)

    def set_state(self, state: str) -> None:
        """Show `state` (no-op when unchanged)."""
        if state == self.state:
            return
        if self.state:
            self.remove_class(f"-{self.state}")
        self.state = state
        self.add_class(f"-{state}")
        self.update(f" {ICONS.get(state, '•')} {state.upper()} ")
