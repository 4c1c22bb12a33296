"""The small app behind `tui-trainer compare` on a terminal: just the comparison screen."""

from __future__ import annotations

from pathlib import PurePath
from typing import ClassVar

from textual.app import App

from tui_trainer.runlog import RunRecord
from tui_trainer.tui.screens.compare import CompareScreen


class CompareApp(App[int]):
    """Shows `CompareScreen` for the given runs; `q` exits."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss"]
    TITLE = "tui-trainer compare"

    def __init__(self, runs: list[RunRecord]) -> None:
        super().__init__()
        self.runs = runs

    def on_mount(self) -> None:
        """Open the comparison."""
        self.push_screen(CompareScreen(self.runs))


def run_compare(runs: list[RunRecord]) -> int:
    """Run the comparison view until the user leaves; returns 0."""
    app = CompareApp(runs)
    app.run()
    return 0
