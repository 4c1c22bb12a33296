"""The loss-vs-LR curve as a plain text chart (log-x): raw and smoothed losses, the suggestion
marked. On a terminal it uses block and box characters; elsewhere (a pipe, a log file) plain
ASCII at a fixed width, so the output reads the same in any viewer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Glyphs:
    """The characters one chart is drawn with."""

    raw: str
    smoothed: str
    mark: str
    above: str  # a raw loss above the chart's top
    below: str  # a raw loss below its bottom
    axis: str
    corner: str
    rule: str
    tick: str


UNICODE = Glyphs("·", "●", "│", "˄", "˅", "│", "└", "─", "┬")
ASCII = Glyphs(".", "*", "|", "^", "v", "|", "+", "-", "+")


def render(
    lrs: list[float],
    losses: list[float],
    smoothed: list[float],
    suggested: float,
    *,
    width: int = 72,
    height: int = 14,
    fancy: bool = False,
) -> list[str]:
    """The chart's lines (`width` columns in all, the y labels included).

    The y range covers the smoothed loss up to its minimum, with a quarter of its span below
    (the diverging tail and single spikes would flatten everything else); raw losses outside it
    show as `above` / `below` on the edge rows.
    """
    g = UNICODE if fancy else ASCII
    label_w = 9
    cols = max(width - label_w - 1, 10)
    x0, x1 = math.log10(lrs[0]), math.log10(lrs[-1])
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    y1 = max(smoothed[: low + 1]) if low > 0 else max(smoothed)
    y0 = smoothed[low] - (y1 - smoothed[low]) / 4
    if y1 <= y0:
        y1 = y0 + (abs(y0) * 0.1 or 1.0)

    def col(lr: float) -> int:
        return round((math.log10(lr) - x0) / ((x1 - x0) or 1.0) * (cols - 1))

    def row(loss: float) -> int:  # 0 is the top row
        return round((y1 - loss) / (y1 - y0) * (height - 1))

    grid = [[" "] * cols for _ in range(height)]
    mark = col(suggested) if lrs[0] <= suggested <= lrs[-1] else None
    if mark is not None:
        for r in range(height):
            grid[r][mark] = g.mark
    for lr, loss in zip(lrs, losses, strict=True):
        r = row(loss)
        glyph = g.above if r < 0 else g.below if r >= height else g.raw
        grid[min(max(r, 0), height - 1)][col(lr)] = glyph
    for lr, loss in zip(lrs, smoothed, strict=True):
        r = row(loss)
        if 0 <= r < height:
            grid[r][col(lr)] = g.smoothed
    lines = []
    for r in range(height):
        label = ""
        if r in (0, height // 2, height - 1):
            label = f"{y1 - (y1 - y0) * r / (height - 1):.4g}"
        lines.append(f"{label:>{label_w}}{g.axis}{''.join(grid[r])}".rstrip())
    lines.append(" " * label_w + g.corner + _x_rule(x0, x1, cols, g))
    lines.append(" " * (label_w + 1) + _x_labels(x0, x1, cols))
    if mark is not None:
        note = f"{g.mark} suggested {suggested:.3g}"
        at = min(label_w + 1 + mark, max(width - len(note), 0))
        lines.append(" " * at + note)
    lines.append(
        " " * (label_w + 1)
        + f"{g.raw} loss per step   {g.smoothed} smoothed   x: learning rate (log)"
    )
    return lines


def _decades(x0: float, x1: float) -> list[int]:
    return list(range(math.ceil(x0 - 1e-9), math.floor(x1 + 1e-9) + 1))


def _x_rule(x0: float, x1: float, cols: int, g: Glyphs) -> str:
    rule = [g.rule] * cols
    for d in _decades(x0, x1):
        rule[round((d - x0) / ((x1 - x0) or 1.0) * (cols - 1))] = g.tick
    return "".join(rule)


def _x_labels(x0: float, x1: float, cols: int) -> str:
    """Decade labels under their ticks, as many as fit with a space between."""
    decades = _decades(x0, x1)
    for stride in range(1, len(decades) + 1):
        out = [" "] * (cols + 8)
        end = -1
        fits = True
        for d in decades[::stride]:
            text = _decade(d)
            at = round((d - x0) / ((x1 - x0) or 1.0) * (cols - 1)) - len(text) // 2
            at = max(at, 0)
            if at <= end:
                fits = False
                break
            out[at : at + len(text)] = text
            end = at + len(text)
        if fits:
            return "".join(out).rstrip()
    return ""


def _decade(d: int) -> str:
    return {0: "1", 1: "10", 2: "100", -1: "0.1", -2: "0.01"}.get(d, f"1e{d}")
