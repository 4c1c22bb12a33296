"""What a plot says about the point under the mouse pointer, and how its x range zooms.

Pure functions, no Textual: `Trace` is one drawn series as the plot holds it (x and y in axis
units, so log10 values on a log axis); `nearest` finds a trace's point closest to an x,
`hover_texts` writes the readout line (longest form first, the panel keeps the one that fits),
`zoom_range` narrows or widens an x range around a point (clamped to the data) and
`visible_bounds` is the y range of what a zoomed view shows.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from textual.markup import escape
from textual_plot.axis_formatter import AxisFormatter

from tui_trainer.tui.widgets.ticks import TickLabels, tick_label

RESET_KEY = "0"
"""The key that resets a zoomed plot on every screen that shows plots."""

ZOOMED = f"zoomed: {RESET_KEY} resets"
"""What a zoomed plot's readout says (and how to undo it)."""

SIGNIFICANT = 3
"""Significant digits of a value in the readout (the ticks show fewer: they only place it)."""


@dataclass(frozen=True)
class Trace:
    """One series a plot drew: its points (x ascending), its Rich style, a short name for the
    readout ("" to show the value in its colour only) and whether it is a dimmed part that
    reads after the others (a detector's loss parts)."""

    xs: Sequence[float]
    ys: Sequence[float]
    style: str
    name: str = ""
    part: bool = False


@dataclass(frozen=True)
class Readout:
    """What a plot's panel shows besides its own values: the hover line's forms (longest
    first; empty while the pointer is away) and whether the x range is zoomed."""

    hover: tuple[str, ...] = ()
    zoomed: bool = False


def subtitle_forms(readout: Readout, values: str | None) -> list[str] | None:
    """The panel subtitle's forms, longest first, for a readout over the panel's own `values`
    (None: the values as they are)."""
    if readout.hover:
        return list(readout.hover)
    if readout.zoomed:
        return [f"{values} · {ZOOMED}", ZOOMED] if values else [ZOOMED]
    return None


def nearest(trace: Trace, x: float, slack: float) -> int | None:
    """The index of `trace`'s point nearest to `x`, or None when `x` lies more than `slack`
    outside the trace's x span (a validation curve has nothing to say before its first epoch)."""
    xs = trace.xs
    if not xs or x < xs[0] - slack or x > xs[-1] + slack:
        return None
    i = bisect_left(xs, x)
    if i == len(xs):
        return i - 1
    if i > 0 and x - xs[i - 1] <= xs[i] - x:
        return i - 1
    return i


def significant(value: float, digits: int = SIGNIFICANT) -> str:
    """`value` with up to `digits` significant digits (no trailing zeros), written as the
    ticks write numbers: plain decimals, or scientific (`1.23e-4`) for tiny or huge values."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        mantissa, exp = f"{value:.{digits - 1}e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def value_label(value: float, formatter: AxisFormatter) -> str:
    """A y value as its axis writes values: 10^value on a log axis, a percentage on a
    percent axis, with `SIGNIFICANT` digits."""
    labels = formatter if isinstance(formatter, TickLabels) else TickLabels()
    shown = 10**value if labels.log else value
    return f"{significant(shown * 100)}%" if labels.percent else significant(shown)


def x_label(value: float, formatter: AxisFormatter, step: float) -> str:
    """An x value as its axis' ticks are written, to the precision of `step` (one column);
    a whole number (an epoch's point) without decimals."""
    if isinstance(formatter, TickLabels) and formatter.log:
        return significant(10**value)
    return str(int(value)) if float(value).is_integer() else tick_label(value, step)


def hover_texts(
    x_name: str, x_text: str, values: Sequence[tuple[str, str, str]], zoomed: bool
) -> tuple[str, ...]:
    """The readout's forms, longest first: `x_name x_text` then each (name, value, style) in
    its colour, named, then unnamed, then the first value only; while zoomed each form says
    so, and the shortest form without it comes last."""
    head = f"{x_name} {x_text}".strip()
    named = " ".join(
        f"[{style}]{escape(f'{name} {value}' if name else value)}[/]"
        for name, value, style in values
    )
    bare = " ".join(f"[{style}]{escape(value)}[/]" for _, value, style in values)
    first = f"[{values[0][2]}]{escape(values[0][1])}[/]" if values else ""
    bodies = list(dict.fromkeys(f"{head} {b}".strip() for b in (named, bare, first)))
    if not zoomed:
        return tuple(bodies)
    return (*(f"{b} · {ZOOMED}" for b in bodies), bodies[-1])


def clamp_view(view: tuple[float, float], full: tuple[float, float]) -> tuple[float, float] | None:
    """`view` moved (and if need be narrowed) inside `full`; None when it covers all of it."""
    lo, hi = full
    a, b = view
    span = min(b - a, hi - lo)
    if hi <= lo or span >= (hi - lo) * (1 - 1e-9):
        return None
    a = min(max(a, lo), hi - span)
    return (a, a + span)


def zoom_range(
    view: tuple[float, float] | None,
    full: tuple[float, float],
    at: float,
    factor: float,
    least: float,
) -> tuple[float, float] | None:
    """The x range after one wheel step: `view` (None: the whole range) scaled by `factor`
    (< 1 narrows) around `at`, which stays under the pointer, never narrower than `least`
    and clamped to `full`; None once it covers the whole range again."""
    a, b = view or full
    at = min(max(at, a), b)
    span = max((b - a) * factor, least)
    left = at - (at - a) / ((b - a) or 1.0) * span
    return clamp_view((left, left + span), full)


def _at(xs: Sequence[float], ys: Sequence[float], i: int, x: float) -> float:
    """The trace's y at `x`, between its points i - 1 and i (linear, as drawn)."""
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def visible_bounds(traces: Sequence[Trace], x0: float, x1: float) -> tuple[float, float] | None:
    """The lowest and highest y the traces show between `x0` and `x1` (their points in the
    range and where their lines cross its ends); None when none shows anything there."""
    seen: list[float] = []
    for trace in traces:
        xs, ys = trace.xs, trace.ys
        i, j = bisect_left(xs, x0), bisect_right(xs, x1)
        seen.extend(ys[i:j])
        if 0 < i < len(xs):
            seen.append(_at(xs, ys, i, x0))
        if 0 < j < len(xs):
            seen.append(_at(xs, ys, j, x1))
    return (min(seen), max(seen)) if seen else None
