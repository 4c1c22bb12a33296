"""Thread-safe control of a running training loop: pause, resume, checkpoint now, stop, steer.

Keys in the TUI and signal handlers in headless mode call the methods; the training loop polls
`Control` at step boundaries. Nothing here blocks the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import Enum

from tui_trainer.config.steering import BadChange, Change, parse_change

MAX_PENDING_STEERS = 16
"""Steering requests waiting for a step boundary; more are refused (the run is not keeping up)."""


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
        self._steers: list[str] = []
        # Set by the running trainer (`engine.steer.Steerer`): a refusal reason, or None.
        self.steer_check: Callable[[Change], str | None] | None = None

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

    def steer(self, text: str) -> str | None:
        """Queue a steering change (`lr=0.001`, `unfreeze`, ...) for the next step boundary.

        Returns None when queued, else the one-line reason it is refused (it does not parse,
        the run is not training, or it cannot apply now: nothing frozen, epochs too low).
        """
        try:
            change = parse_change(text)
        except BadChange as exc:
            return str(exc)
        check = self.steer_check
        if check is None:
            return "the run is not training"
        reason = check(change)
        if reason:
            return reason
        with self._lock:
            if len(self._steers) >= MAX_PENDING_STEERS:
                return f"{MAX_PENDING_STEERS} changes are already waiting for a step boundary"
            self._steers.append(change.text)
        return None

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

    def take_steers(self) -> list[str]:
        """Return and clear the queued steering changes (canonical texts, in request order)."""
        with self._lock:
            taken, self._steers = self._steers, []
            return taken

    def wait_while_paused(self, timeout: float = 0.1) -> bool:
        """Block up to `timeout` seconds while paused; returns True when running again."""
        return self._running.wait(timeout)
