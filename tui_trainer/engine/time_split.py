"""Where the training time goes, without a host sync per step.

The loop marks the end of each phase of a step (`TimeSplit.mark`): the time since the previous
mark belongs to that phase ("data", "copy", "compute", "optimizer", "other":
`runlog.time_parts.PARTS`). On a CPU the marks read `time.perf_counter`. On CUDA each mark
records a `torch.cuda.Event` on the current stream and the intervals are read only when a
progress event is emitted (`take_window`), from the events already complete (`Event.query`,
no sync); the rest wait for the next window. There the parts are the GPU's timeline: "data" is
the time the GPU waited for the host to bring the next batch.

A segment during which the run was paused or saved a checkpoint (the training clock stood
still: `ControlLink.paused_total` moved) is left out, so the shares are of training time.
Only rank 0 measures (the one that reports); elsewhere every call is a no-op.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from tui_trainer.runlog.time_parts import PARTS, shares

PENDING_LIMIT = 4096
"""CUDA events kept unread before the completed ones are read at a mark (bounds memory when
progress events are far apart)."""


class TimeSplit:
    """Seconds per part of the training step: per progress window and over the run."""

    def __init__(
        self,
        device: torch.device,
        *,
        off_clock: Callable[[], float] = lambda: 0.0,
        enabled: bool = True,
    ) -> None:
        """`off_clock` returns the seconds the training clock has stood still so far (pauses,
        checkpoint saves); `enabled` False makes every call a no-op (ranks other than 0)."""
        self.enabled = enabled
        self.cuda = enabled and device.type == "cuda"
        self.off_clock = off_clock
        self.window = dict.fromkeys(PARTS, 0.0)
        self.total = dict.fromkeys(PARTS, 0.0)  # taken windows, earlier segments included
        self._off = 0.0
        self._last: float | None = None  # CPU: the previous mark (None: not started)
        self._prev: torch.cuda.Event | None = None  # CUDA: the previous mark's event
        self._pending: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []
        self._free: list[torch.cuda.Event] = []  # read events, recorded again by later marks
        self._stream: torch.cuda.Stream | None = None  # the loop's stream (looked up per epoch)

    def start(self) -> None:
        """Time from here (an epoch starts); whatever came before is no part of any step."""
        if not self.enabled:
            return
        self._off = self.off_clock()
        if self.cuda:
            self._stream = torch.cuda.current_stream()  # not looked up again at every mark
            self._prev = self._record()
        else:
            self._last = time.perf_counter()

    def mark(self, part: str) -> None:
        """The time since the previous mark (or `start`) was spent in `part`."""
        if not self.enabled:
            return
        off = self.off_clock()
        if self.cuda:
            event = self._record()
            if self._prev is not None and off == self._off:
                self._pending.append((part, self._prev, event))
                if len(self._pending) > PENDING_LIMIT:
                    self._read(wait=False)
            self._prev = event
        else:
            now = time.perf_counter()
            if self._last is not None and off == self._off:
                self.window[part] += now - self._last
            self._last = now
        self._off = off

    def take_window(self) -> dict[str, float] | None:
        """Each part's share of the time measured since the previous call (None: none yet);
        the window's seconds join the run's totals."""
        if not self.enabled:
            return None
        self._read(wait=False)
        window = self._fold()
        return shares(window, 4)

    def totals(self) -> dict[str, float]:
        """Seconds per part over the whole run (earlier segments of a resumed run included);
        on CUDA this waits for the events still in flight (the run's end)."""
        if self.enabled:
            self._read(wait=True)
            self._fold()
        return dict(self.total)

    def breakdown(self) -> dict[str, float] | None:
        """summary.json's `time_breakdown`: each part's share of the run's training time,
        rounded to 4 places (None: nothing measured, e.g. not rank 0)."""
        return shares(self.totals(), 4)

    # -- checkpoint (engine.stateful.Stateful) ---------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The run's seconds per part so far (the events complete by now)."""
        if self.enabled:
            self._read(wait=False)
        seconds = {k: self.total[k] + self.window[k] for k in PARTS}
        return {"seconds": {k: round(v, 6) for k, v in seconds.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Carry on from a checkpoint's totals (an older checkpoint without them: from 0)."""
        seconds = state.get("seconds") if isinstance(state, dict) else None
        if not isinstance(seconds, dict):
            return
        for k in PARTS:
            v = seconds.get(k)
            if isinstance(v, (int, float)) and math.isfinite(v) and v >= 0:
                self.total[k] = float(v)

    # -- inside ----------------------------------------------------------------------------------
    def _fold(self) -> dict[str, float]:
        """The window's seconds, added to the totals; the window starts again."""
        window = self.window
        for k, v in window.items():
            self.total[k] += v
        self.window = dict.fromkeys(PARTS, 0.0)
        return window

    def _record(self) -> torch.cuda.Event:
        event = self._free.pop() if self._free else torch.cuda.Event(enable_timing=True)
        event.record(self._stream)
        return event

    def _read(self, *, wait: bool) -> None:
        """Add the intervals whose end event completed (`wait`: all of them) to the window.

        A device error (the run is failing on it) drops what is unread: the accounting
        never raises for it, so a failed run still ends with its summary."""
        done = 0
        try:
            for part, begin, end in self._pending:
                if not end.query():
                    if not wait:
                        break
                    end.synchronize()
                self.window[part] += begin.elapsed_time(end) / 1000.0
                self._free.append(begin)  # read, and no later interval starts with it
                done += 1
        except RuntimeError:
            done = len(self._pending)
        del self._pending[:done]
