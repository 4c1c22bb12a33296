"""A labelled sparkline: the current value on the left, the series' shape on the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui_trainer.tui.widgets.spark import Spark


class Chart(Horizontal):
    """``name  value ▁▂▃▅▇`` on one row (or taller, as the layout allows)."""

    def __init__(self, name: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._name = name
        self._value = ""

    def compose(self) -> ComposeResult:
        """The label and the sparkline."""
        yield Static(self._label(), classes="chart-label", markup=False)
        yield Spark(classes="chart-spark")

    def _label(self) -> str:
        return f"{self._name:<6}{self._value or '-':>9}"

    def set(self, value: str, data: list[float]) -> None:
        """Show `value` and the series `data`; repaints only what changed."""
        if value != self._value:
            self._value = value
            self.query_one(".chart-label", Static).update(self._label(), layout=False)
        self.query_one(Spark).data = data
