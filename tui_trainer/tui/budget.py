"""Spacing repeated redraws by what they cost, so the UI never takes more than its share.

On a CPU-only machine the console's UI thread competes with training for the same cores: every
millisecond it renders is a millisecond torch's threads wait. A `RedrawBudget` adds up the UI
thread's CPU time (`time.thread_time`) of one redraw: the code that changes the widgets
(`started` .. `drawn`) and the frames that paint the change (`painted`, from the screen's
update timer, which also lays the screen out when a size changed). Once the redraw's frames
are in, the next one is spaced so redraws use at most `share` of one core, and never come
closer than `floor` seconds nor further apart than `ceiling`: a fast machine gets the floor's
rate, a slow one fewer frames.

The frames are counted, not guessed: Textual runs `call_after_refresh` callbacks before the
widgets changed in a handler have reported themselves dirty, so a callback sees none of the
painting it was meant to wait for.
"""

from __future__ import annotations

import time


class RedrawBudget:
    """The gap before the next redraw: measured cost / share, within [floor, ceiling]."""

    def __init__(
        self, floor: float, share: float, frames: int = 1, ceiling: float = float("inf")
    ) -> None:
        """`frames`: how many frames one redraw paints in (their cost is its cost);
        `ceiling`: the longest gap, whatever a redraw cost (a one-off costly frame, such as
        the first paint of a screen, never freezes the display for long)."""
        self.floor = floor
        self.ceiling = max(ceiling, floor)
        self.share = share
        self.frames = frames
        self.gap = floor
        self.last = 0.0  # monotonic time of the last redraw
        self.cost = 0.0  # UI-thread CPU seconds of the last redraw, so far
        self._clock: float | None = None  # thread_time when the redraw's own code began
        self._unpainted = 0  # frames of the last redraw still to come

    def wait(self, now: float | None = None) -> float:
        """Seconds until the next redraw is due (<= 0: now)."""
        return self.last + self.gap - (time.monotonic() if now is None else now)

    def started(self) -> None:
        """A redraw begins (its code runs now, on the UI thread)."""
        self.last = time.monotonic()
        self.cost = 0.0
        self._clock = time.thread_time()
        self._unpainted = self.frames

    def drawn(self) -> None:
        """The redraw's code is done: its widgets are changed, the frames are to come."""
        if self._clock is not None:
            self.cost += max(time.thread_time() - self._clock, 0.0)
            self._clock = None

    def forget(self) -> None:
        """Do not cost the redraw begun last (its frames are another budget's): the gap stays."""
        self._clock = None
        self._unpainted = 0

    def painted(self, cost: float) -> None:
        """A frame costing `cost` CPU seconds was painted; it counts if this redraw awaits it
        (a frame that paints two redraws counts for both: the budget errs on the safe side).
        """
        if self._unpainted <= 0 or self._clock is not None:
            return
        self.cost += cost
        self._unpainted -= 1
        if self._unpainted == 0:
            self.gap = min(self.ceiling, max(self.floor, self.cost / self.share))
