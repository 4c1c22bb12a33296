"""Spacing repeated redraws by what they cost, so the UI never takes more than its share.

On a CPU-only machine the console's UI thread competes with training for the same cores: every
millisecond it renders is a millisecond torch's threads wait. A `RedrawBudget` measures the UI
thread's CPU time of each redraw (`time.thread_time`, from the change to the frames that paint
it) and spaces the next one so redraws use at most `share` of one core, and never come closer
than `floor` seconds. A fast machine gets the floor's rate; a slow one fewer frames.
"""

from __future__ import annotations

import time


class RedrawBudget:
    """The gap before the next redraw: max(floor, measured cost / share)."""

    def __init__(self, floor: float, share: float) -> None:
        self.floor = floor
        self.share = share
        self.gap = floor
        self.last = 0.0  # monotonic time of the last redraw

    def wait(self, now: float | None = None) -> float:
        """Seconds until the next redraw is due (<= 0: now)."""
        return self.last + self.gap - (time.monotonic() if now is None else now)

    def started(self) -> float:
        """Mark a redraw as begun; returns the UI thread's CPU clock for `spent`."""
        self.last = time.monotonic()
        return time.thread_time()

    def spent(self, clock: float) -> None:
        """The redraw begun at `clock` has painted: set the gap from its cost."""
        cost = max(time.thread_time() - clock, 0.0)
        self.gap = max(self.floor, cost / self.share)
