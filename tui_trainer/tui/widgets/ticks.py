"""Axis ticks for the plots: where they go (`nice_ticks`, `log_ticks`, `fitting_x_ticks`) and
how they read (`TickLabels`: short, one format per axis, percentages for accuracies)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

from textual_plot.axis_formatter import AxisFormatter


def nice_step(span: float, count: int, least: float = 0.0) -> float:
    """A 1/2/5 x 10^k step (at least `least`) cutting `span` into at most ~`count` intervals."""
    if span <= 0 or count < 1:
        return max(1.0, least)
    raw = max(span / count, least)
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if mult * power >= raw:
            return mult * power
    return 10 * power


def nice_ticks(low: float, high: float, count: int, least: float = 0.0) -> list[float]:
    """Round tick values inside [low, high], at most about `count` + 1, `least` apart or more."""
    step = nice_step(high - low, count, least)
    first = math.ceil(low / step - 1e-9)
    ticks, k = [], first
    while k * step <= high + step * 1e-9:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def tick_label(value: float, step: float) -> str:
    """A short label: as many decimals as the step needs, scientific for tiny or huge values."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        mantissa, exp = f"{value:.1e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    text = f"{value:.{min(decimals, 6)}f}"
    return "0" if float(text) == 0 else text  # a value that rounds to zero is "0", not "-0.0"


def _needs_scientific(value: float) -> bool:
    return value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3)


def axis_labels(ticks: Sequence[float], step: float) -> list[str]:
    """One format for a whole axis: `tick_label`'s plain decimals, or, when any tick needs
    scientific notation, every tick in it with the same number of mantissa digits
    (`2e-4 4e-4 1e-3`, never `4e-4 0.001`); zero stays "0"."""
    if not any(_needs_scientific(t) for t in ticks):
        return [tick_label(t, step) for t in ticks]
    tolerance = abs(step) * 1e-3 if step else 0.0
    digits = 3
    for d in range(4):  # the fewest mantissa decimals that write every tick exactly enough
        if all(abs(float(f"{t:.{d}e}") - t) <= tolerance for t in ticks):
            digits = d
            break
    labels = []
    for t in ticks:
        mantissa, exp = f"{t:.{digits}e}".split("e")
        labels.append("0" if float(mantissa) == 0 else f"{mantissa}e{int(exp)}")
    return labels


class TickLabels(AxisFormatter):
    """Labels for ticks we place ourselves (`set_xticks`/`set_yticks`); `log` shows 10^tick,
    `percent` shows fractions as percentages (accuracies: `90%`, as the panels' values)."""

    def __init__(self, log: bool = False, step: float | None = None, percent: bool = False) -> None:
        self.log = log
        self.step = step  # the precision to label with (default: the ticks' own spacing)
        self.percent = percent

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        """Ticks when none were set (only before the first `show`)."""
        return nice_ticks(min_, max_, max_ticks)

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        """Each tick's label, in one format for the axis."""
        if self.log:  # each value exact enough on its own, unless the axis goes scientific
            values = [10**t for t in ticks]
            if any(_needs_scientific(v) for v in values):
                return axis_labels(values, min(values))
            return [tick_label(v, v) for v in values]
        spacing = min((b - a for a, b in pairwise(ticks)), default=1.0)
        step = self.step or spacing
        if self.percent:
            return [f"{label}%" for label in axis_labels([t * 100 for t in ticks], step * 100)]
        return axis_labels(ticks, step)


def _label_spans(
    ticks: Sequence[float], labels: Sequence[str], x0: float, x1: float, width: int
) -> list[tuple[int, int]]:
    """Where textual-plot writes each x tick label on a plot canvas `width` cells wide:
    (first cell, end) per label, as `PlotWidget._render_x_ticks` places them (the label of
    the left end starts at the edge, the right end's is right-aligned, the rest centred)."""
    spans = []
    right = width - 1  # the scale rectangle spans cells 1 .. width - 2, ticks map onto it
    for tick, label in zip(ticks, labels, strict=True):
        if tick < x0 or tick > x1:
            continue
        x = math.floor(1 + (tick - x0) / ((x1 - x0) or 1.0) * (right - 1))
        if tick == x0:
            x -= 1
        if tick == x1:
            start = x - len(label) + 1
        else:
            half, odd = divmod(len(label), 2)
            start = x - half + (0 if odd else 1)
        spans.append((start, start + len(label)))
    return spans


def fitting_x_ticks(
    x0: float, x1: float, width: int, formatter: AxisFormatter, least: float = 1.0
) -> list[float]:
    """The most whole-epoch ticks in [x0, x1] whose labels fit `width` cells with a blank cell
    between neighbours (at 80x24 a panel is ~25 cells wide: `0 20 40 60`, never `0  20 4060`);
    `least` apart or more (a plot zoomed into an epoch passes 0: ticks between epochs).

    A whole-epoch right end (the planned epochs) is always among them when its label fits: it
    says how long the run is, and a frame corner with a tick looks like the others."""

    def fits(ticks: list[float]) -> bool:
        spans = _label_spans(ticks, formatter.get_labels_for_ticks(ticks), x0, x1, width)
        return all(a_end < b_start for (_, a_end), (b_start, _) in pairwise(spans))

    end = [x1] if x1 > x0 and float(x1).is_integer() else []
    ticks: list[float] = []
    for count in range(max(1, width // 2), 0, -1):
        ticks = nice_ticks(x0, x1, count, least=least)
        if end and ticks[-1:] != end:
            for with_end in ([*ticks, *end], [*ticks[:-1], *end]):  # the last may give way
                if len(with_end) > 1 and fits(with_end):
                    return with_end
        elif fits(ticks):
            return ticks
    return ticks[:1]


def log_ticks(low: float, high: float, count: int) -> list[float]:
    """Ticks (in log10 units) at decades, or at 1-2-5 steps when the range is under a decade."""
    decades = [float(k) for k in range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1)]
    if len(decades) >= 2 and len(decades) * 3 > count:
        stride = max(1, math.ceil(len(decades) / max(count, 1)))
        return decades[::stride]
    out = []
    for k in range(math.floor(low) - 1, math.ceil(high) + 1):
        for mult in (1, 2, 5):
            t = math.log10(mult) + k
            if low - 1e-9 <= t <= high + 1e-9:
                out.append(t)
    return out if len(out) >= 2 else [low, high]
