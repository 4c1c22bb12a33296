"""Thread-safe control of a running training loop: pause, resume, checkpoint now, stop.

Keys in the TUI and signal handlers in headless mode call the methods; the training loop polls
`Control` at step boundaries. Nothing here blocks the caller.
"""

from __future__ import annotations

import threading
from enum import Enum


class StopMode(str, Enum):
    """When a requested stop takes effect."""

    NONE = "none"
    EPOCH = "epoch"  # after the current epoch (and its validation)
    STEP = "step"  # at the next step boundary


class Control:
    """Requests from the outside world to the training loop.

    `stop_status` is what summary.json reports when the loop honours a stop: "stopped" for a user
    request, "interrupted" for a signal; `exit_signal` is the signal number, if any.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._running.set()
        self._checkpoint = False
        self._stop = StopMode.NONE
        self.stop_status = "stopped"
        self.exit_signal: int | None = None

    # -- requests (any thread) -------------------------------------------------------------------
    def pause(self) -> None:
        """Pause at the next step boundary."""
        self._running.clear()

    def resume(self) -> None:
        """Resume a paused loop."""
        self._running.set()

    def request_checkpoint(self) -> None:
        """Save a checkpoint at the next step boundary and carry on."""
        with self._lock:
            self._checkpoint = True

    def request_stop(
        self, mode: StopMode = StopMode.EPOCH, status: str = "stopped", signal: int | None = None
    ) -> None:
        """Stop after the current epoch (`EPOCH`) or at the next step boundary (`STEP`).

        A stricter request (STEP) wins over a looser one; a paused loop is woken so it can stop.
        """
        with self._lock:
            if self._stop is StopMode.NONE or mode is StopMode.STEP:
                self._stop = mode
            self.stop_status = status
            if signal is not None:
                self.exit_signal = signal
        self._running.set()

    # -- polling (training thread) ---------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """True while a pause is requested."""
        return not self._running.is_set()

    @property
    def stop_mode(self) -> StopMode:
        """The pending stop request."""
        return self._stop

    def take_checkpoint_request(self) -> bool:
        """Return and clear a pending checkpoint request."""
        with self._lock:
            wanted, self._checkpoint = self._checkpoint, False
            return wanted

    def wait_while_paused(self, timeout: float = 0.1) -> bool:
        """Block up to `timeout` seconds while paused; returns True when running again."""
        return self._running.wait(timeout)
