"""Layouts that degrade by priority: what to keep when a panel has fewer rows than it needs.

A panel lists its parts in display order as `Part(priority, rows)`, 1 the most needed. When the
parts do not fit with their spacing, `fit` drops the spacing first, then keeps the parts by
priority (display order among equals) while they fit; the order on screen never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """One part of a panel: how much it is needed (1 = most) and the rows it takes."""

    priority: int
    rows: int
    gap: int = 0  # blank rows before it, dropped first when space is short


@dataclass(frozen=True)
class Fit:
    """The outcome: which parts show, and whether the gaps stay."""

    shown: tuple[bool, ...]
    gaps: bool


def fit(available: int, parts: Sequence[Part]) -> Fit:
    """Which `parts` show in `available` rows (see the module docstring)."""
    full = sum(part.rows + part.gap for part in parts)
    if full <= available:
        return Fit((True,) * len(parts), gaps=True)
    shown = [False] * len(parts)
    left = available
    for i in sorted(range(len(parts)), key=lambda i: (parts[i].priority, i)):
        if 0 < parts[i].rows <= left:
            shown[i] = True
            left -= parts[i].rows
        elif parts[i].rows == 0:
            shown[i] = True
    return Fit(tuple(shown), gaps=False)
