"""The per-epoch metrics table: train/val loss, the task metrics, LR and time; best marked.

Drawn line by line from cached strips, newest epoch at the bottom. A new epoch costs one repaint
of this widget and no re-layout of the screen (a `DataTable` re-lays the whole screen out for
every row it grows by). Older epochs are a scroll away: mouse wheel, or the arrow keys.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.strip import Strip
from textual.widget import Widget

from tui_trainer import formatting as fmt
from tui_trainer.tui.curves import TASK_METRICS
from tui_trainer.tui.model import EpochRow

BEST = "★"
GAP = 2


def cell(name: str, value: float | None) -> str:
    """One metric as the table shows it."""
    if name == "lr":
        return fmt.lr(value)
    return fmt.loss(value) if name.endswith("loss") else fmt.metric(name, value)


def metric_columns(metrics: dict[str, float]) -> list[str]:
    """The metrics shown, in order: losses, the validation metrics, LR."""
    extra = sorted(k for k in metrics if k.startswith("val_") and k != "val_loss")
    return ["train_loss", "val_loss", *extra, "lr"]


KEPT = frozenset({"train_loss", "val_loss", "lr", *TASK_METRICS})
"""Columns the table keeps at any width; the other validation metrics (a detector's mAP75,
precision, recall) give way, the rightmost first, when the table is wider than its panel."""


def fitting_columns(names: list[str], widths: list[int], width: int) -> list[int]:
    """Indexes of the cells shown at `width` columns: `names` are the metric columns (cells
    1..len(names); the epoch before them, time and the best marker after them), `widths` every
    cell's width. Columns not in `KEPT` are dropped from the right until the line fits."""
    shown = list(range(len(widths)))
    optional = [i + 1 for i, name in enumerate(names) if name not in KEPT]

    def length() -> int:
        return sum(widths[i] + GAP for i in shown[:-1]) + 1  # the marker: one cell

    while optional and length() > width:
        shown.remove(optional.pop())
    return shown


class EpochTable(Widget, can_focus=True):
    """One line per finished epoch under a header; the best epoch is starred and bold.

    Colours come from run.tcss through the component classes below.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "epoch-table--header",
        "epoch-table--best",
        "epoch-table--star",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll(1)", "Older", show=False),
        Binding("down", "scroll(-1)", "Newer", show=False),
        Binding("pageup", "scroll(10)", show=False),
        Binding("pagedown", "scroll(-10)", show=False),
        Binding("end", "scroll(-1000000)", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[tuple[str, ...]] = []
        self._best: int | None = None  # index of the best row
        self._header: tuple[str, ...] = ()
        self._names: list[str] = []
        self._back = 0  # rows scrolled back from the newest
        self._key: tuple[object, ...] = ()
        self._lines: list[Strip] = []

    # -- data ------------------------------------------------------------------------------------
    def show_rows(self, rows: list[EpochRow]) -> None:
        """Show `rows` (new ones are appended; the best marker moves)."""
        if not rows:
            return
        if not self._header:
            self._names = metric_columns(rows[0].metrics)
            self._header = ("ep", *(fmt.metric_label(n) for n in self._names), "time", "")
        for row in rows[len(self._rows) :]:
            values = [cell(n, row.metrics.get(n)) for n in self._names]
            self._rows.append((str(row.epoch), *values, f"{row.seconds:.1f}s", ""))
        self._best = next((i for i, row in enumerate(rows) if row.best), None)
        self._back = 0
        self.refresh()

    @property
    def row_count(self) -> int:
        """How many epochs the table holds."""
        return len(self._rows)

    # -- scrolling -------------------------------------------------------------------------------
    def action_scroll(self, rows: int) -> None:
        """Scroll back (positive) towards older epochs or forward (negative)."""
        most = max(0, len(self._rows) - max(self.size.height - 1, 1))
        back = min(max(self._back + rows, 0), most)
        if back != self._back:
            self._back = back
            self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        """Wheel up: older epochs."""
        event.stop()
        self.action_scroll(3)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        """Wheel down: newer epochs."""
        event.stop()
        self.action_scroll(-3)

    # -- drawing ---------------------------------------------------------------------------------
    def _build(self) -> list[Strip]:
        width, height = self.size
        base = self.rich_style
        muted = base + self.get_component_rich_style("epoch-table--header")
        best = base + self.get_component_rich_style("epoch-table--best")
        star = base + self.get_component_rich_style("epoch-table--star")
        if not self._header:
            return [Strip.blank(width, base)] * height
        all_widths = [
            max(len(r[i]) for r in [self._header, *self._rows]) for i in range(len(self._header))
        ]
        shown = fitting_columns(self._names, all_widths, width)
        cells = [tuple(r[i] for i in shown) for r in [self._header, *self._rows]]
        widths = [all_widths[i] for i in shown]
        visible = max(height - 1, 0)
        end = len(self._rows) - self._back
        start = max(0, end - visible)

        def line(values: tuple[str, ...], style: Style, index: int | None) -> Strip:
            segments = []
            for i, (text, w) in enumerate(zip(values, widths, strict=True)):
                if i == len(values) - 1:  # the best marker
                    segments.append(Segment(BEST if index == self._best else " ", star))
                else:
                    segments.append(Segment(text.rjust(w) + " " * GAP, style))
            return Strip(segments).crop_extend(0, width, base)

        hidden = f" ↑{start}" if start else ""
        header = line(cells[0], muted, None)
        if hidden:
            header = Strip([*header.crop(0, width - len(hidden)), Segment(hidden, muted)])
        lines = [header]
        for index in range(start, end):
            lines.append(line(cells[index + 1], best if index == self._best else base, index))
        lines += [Strip.blank(width, base)] * (height - len(lines))
        return lines

    def render_line(self, y: int) -> Strip:
        """One line of the table (all lines are rebuilt only after a change)."""
        key = (len(self._rows), self._best, self._back, self.size, self.app.theme)
        if key != self._key:
            self._lines, self._key = self._build(), key
        if y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width, self.rich_style)
