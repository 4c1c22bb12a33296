"""Thread-safe control of a running training loop: pause, resume, checkpoint now, stop, steer.

Keys in the TUI, the control socket and signal handlers in headless mode call the methods; the
training loop polls `Control` at step boundaries. Nothing here blocks the caller.

One-shot requests (checkpoint now, a steering change, the moment a pause was asked for) wait in
one queue and are honoured in arrival order at the next step boundary (`take_actions`): none
overrides another, so `c` then `p` within one step saves the checkpoint and then pauses. Pause
and stop are also states (`paused`, `stop_mode`) that the loop and the socket's status read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import Enum

from tui_trainer.config.steering import BadChange, Change, parse_change

MAX_PENDING_STEERS = 16
"""Steering requests waiting for a step boundary; more are refused (the run is not keeping up)."""

Action = tuple[str, str]
"""One queued request: ("checkpoint", ""), ("pause", "") or ("steer", CANONICAL_TEXT)."""


class Unchanged(str):
    """A steering check's answer for a change to the value already in force (not an error)."""


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
        self._actions: list[Action] = []
        self._stop = StopMode.NONE
        self.stop_status = "stopped"
        self.exit_signal: int | None = None
        # Set by the running trainer (`engine.steer.Steerer`): a refusal reason, an `Unchanged`
        # (the change would not change anything), or None.
        self.steer_check: Callable[[Change], str | None] | None = None

    # -- requests (any thread) -------------------------------------------------------------------
    def pause(self) -> None:
        """Pause at the next step boundary (after the requests queued before this one)."""
        with self._lock:
            if ("pause", "") not in self._actions:  # one pause per boundary is enough
                self._actions.append(("pause", ""))
            self._running.clear()

    def resume(self) -> None:
        """Resume a paused loop."""
        self._running.set()

    def request_checkpoint(self) -> None:
        """Save a checkpoint at the next step boundary (in request order) and carry on."""
        with self._lock:
            for kind, _ in reversed(self._actions):
                if kind == "checkpoint":
                    return  # one already waits, and nothing changes the run between the two
                if kind == "steer":
                    break
            self._actions.append(("checkpoint", ""))

    def request_stop(
        self, mode: StopMode = StopMode.EPOCH, status: str = "stopped", signal: int | None = None
    ) -> None:
        """Stop after the current epoch (`EPOCH`) or at the next step boundary (`STEP`).

        A stricter request (STEP) wins over a looser one; a paused loop is woken so it can stop.
        Requests queued before it are still honoured at that boundary.
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

        Returns None when queued or when it would change nothing (then nothing is queued:
        `submit_steer` tells the two apart), else the one-line reason it is refused (it does
        not parse, the run is not training, or it cannot apply now).
        """
        outcome, detail = self.submit_steer(text)
        return detail if outcome == "refused" else None

    def submit_steer(self, text: str) -> tuple[str, str]:
        """Like `steer`, with the outcome spelled out: ("queued", CHANGE), ("unchanged", WHY)
        or ("refused", WHY). A change to the value already in force costs the run nothing."""
        try:
            change = parse_change(text)
        except BadChange as exc:
            return "refused", str(exc)
        check = self.steer_check
        if check is None:
            return "refused", "the run is not training"
        reason = check(change)
        if isinstance(reason, Unchanged):
            return "unchanged", str(reason)
        if reason:
            return "refused", reason
        with self._lock:
            if len(self.pending_steers()) >= MAX_PENDING_STEERS:
                return "refused", (
                    f"{MAX_PENDING_STEERS} changes are already waiting for a step boundary"
                )
            self._actions.append(("steer", change.text))
        return "queued", change.text

    def pending_steers(self) -> list[str]:
        """The steering changes queued for the next step boundary, in request order."""
        return [arg for kind, arg in list(self._actions) if kind == "steer"]

    # -- polling (training thread) ---------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """True while a pause is requested."""
        return not self._running.is_set()

    @property
    def stop_mode(self) -> StopMode:
        """The pending stop request."""
        return self._stop

    def take_actions(self) -> list[Action]:
        """Return and clear the queued one-shot requests, in arrival order."""
        with self._lock:
            taken, self._actions = self._actions, []
            return taken

    def take_checkpoint_request(self) -> bool:
        """Return and clear pending checkpoint requests (a loop that honours only those)."""
        return bool(self._take("checkpoint"))

    def take_steers(self) -> list[str]:
        """Return and clear the queued steering changes (canonical texts, in request order)."""
        return self._take("steer")

    def _take(self, kind: str) -> list[str]:
        with self._lock:
            taken = [arg for k, arg in self._actions if k == kind]
            self._actions = [a for a in self._actions if a[0] != kind]
            return taken

    def wait_while_paused(self, timeout: float = 0.1) -> bool:
        """Block up to `timeout` seconds while paused; returns True when running again."""
        return self._running.wait(timeout)
