"""Where the training time goes, on one line: a stacked bar of the parts of a step and either
their shares or, when one part dominates, the plain hint for it (`runlog.time_parts`)."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import RenderResult
from textual.content import Content
from textual.widget import Widget

from tui_trainer.runlog.time_parts import LABELS, PARTS, SHORT, dominant, hint, shown

STYLES = {
    "data": "$warning",
    "copy": "$secondary",
    "compute": "$success",
    "optimizer": "$accent",
    "other": "$foreground 35%",
}
"""Each part's colour, in the bar and in the text beside it."""

HEAD = "time".ljust(6)
MIN_BAR, MAX_BAR = 8, 24
BLOCK = "█"


def segments(parts: Mapping[str, float], width: int) -> list[tuple[str, int]]:
    """(part, cells) of a `width`-cell stacked bar, in `PARTS` order: each part's cells by its
    share, rounded so that they fill the bar exactly (the largest remainders round up)."""
    keys = [k for k in PARTS if parts.get(k, 0) > 0] + [
        k for k in parts if k not in PARTS and parts[k] > 0
    ]
    total = sum(parts[k] for k in keys)
    if total <= 0 or width <= 0:
        return []
    exact = {k: parts[k] / total * width for k in keys}
    cells = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(keys, key=lambda k: exact[k] - cells[k], reverse=True)
    for k in by_remainder[: width - sum(cells.values())]:
        cells[k] += 1
    return [(k, cells[k]) for k in keys if cells[k]]


def time_line(parts: Mapping[str, float] | None, width: int, *, stepped: bool = False) -> Content:
    """The line for `width` cells: ``time  ████▆▆… data 62% · compute 30% · …``, or the hint
    when one part dominates. Without parts: whether they are still to come or, once steps
    were reported (`stepped`), not measured for this run (an older run, a script's own loop)."""
    head = Content.styled(HEAD, "$text-muted")
    if not parts:
        why = "not measured for this run" if stepped else "after the first steps"
        return Content.assemble(head, (f"where the step time goes: {why}", "$text-muted"))
    text = _text(parts)
    room = width - head.cell_length - 1
    bar_width = max(MIN_BAR, min(MAX_BAR, room - text.cell_length))
    text = text.truncate(max(0, room - bar_width), ellipsis=True)
    return Content.assemble(head, _bar(parts, bar_width), " ", text)


def summary_rows(parts: Mapping[str, float] | None, width: int = 64) -> list[Content]:
    """The summary's rows for the run's shares: the bar with every part's share, then the
    hint when one part dominates (each at most `width` cells)."""
    if not parts:
        return []
    shares = legend(parts)
    bar_width = max(MIN_BAR // 2, min(MAX_BAR // 2, width - 1 - shares.cell_length))
    rows = [Content.assemble(_bar(parts, bar_width), " ", shares).truncate(width, ellipsis=True)]
    if hint(parts) is not None:  # a part dominates and there is advice about it
        rows.append(_text(parts).truncate(width, ellipsis=True))
    return rows


def _bar(parts: Mapping[str, float], width: int) -> Content:
    return Content.assemble(*((BLOCK * n, STYLES.get(k, "")) for k, n in segments(parts, width)))


def legend(parts: Mapping[str, float]) -> Content:
    """``data 62% · compute 30% · …`` in the parts' colours: those over 0.5%, largest first."""
    items = [
        Content.assemble((SHORT.get(k, k), STYLES.get(k, "")), f" {parts[k]:.0%}")
        for k in shown(parts)
    ]
    return Content(" · ").join(items)


def _text(parts: Mapping[str, float]) -> Content:
    top = dominant(parts)
    line = hint(parts)
    if top is not None and line is not None:
        name = top[0]
        label = LABELS.get(name, name)
        return Content.assemble((label, f"bold {STYLES.get(name, '')}"), line[len(label) :])
    return legend(parts)


class TimeBar(Widget):
    """One line: the latest progress window's time parts (the run's, once it ended)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._parts: dict[str, float] | None = None
        self._stepped = False

    def show(self, parts: Mapping[str, float] | None, *, stepped: bool = False) -> None:
        """Show `parts` (shares of the training time; `stepped`: steps were reported);
        repaints only when what shows changed."""
        new = dict(parts) if parts else None
        if _shown(new) != _shown(self._parts) or stepped != self._stepped:
            self.refresh()
        self._parts, self._stepped = new, stepped

    def render(self) -> RenderResult:
        """The line at the current width."""
        return time_line(self._parts, self.size.width, stepped=self._stepped)


def _shown(parts: Mapping[str, float] | None) -> dict[str, float] | None:
    """What the line shows of `parts`: whole percents (a change below that is not repainted)."""
    return {k: round(v, 2) for k, v in parts.items()} if parts else None
