"""Control polling at step boundaries: rank 0 reads `Control`, every rank gets the same requests.

In a single-process run the broadcast is a no-op. Rank 0's queued one-shot requests
(checkpoint now, steering changes, the point where a pause was asked for) travel as one object
broadcast after the flags whenever there are any, and every rank honours them in arrival order
at the same step: steering changes next to each other apply as one batch (`on_steer`), a
checkpoint saves, a pause blocks here (the training clock excludes it) while the requests that
arrive meanwhile are honoured as they come. A stop at the step ends the boundary.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from tui_trainer.engine.distributed import DistContext
from tui_trainer.runlog.control import Action, Control, StopMode
from tui_trainer.runlog.events import Event, Paused, Resumed

_STOP_CODES = {StopMode.NONE: 0, StopMode.EPOCH: 1, StopMode.STEP: 2}
_STOP_MODES = {v: k for k, v in _STOP_CODES.items()}


class StopNow(Exception):
    """Internal: leave the epoch loop at a step boundary."""


@dataclass(frozen=True)
class ControlFlags:
    """Rank 0's view of `Control` at a step boundary, the same on every rank."""

    paused: bool = False
    stop: StopMode = StopMode.NONE
    actions: tuple[Action, ...] = ()  # one-shot requests in arrival order

    @property
    def checkpoint(self) -> bool:
        """Whether a checkpoint was asked for."""
        return any(kind == "checkpoint" for kind, _ in self.actions)

    @property
    def steers(self) -> tuple[str, ...]:
        """The steering changes asked for, in order."""
        return tuple(arg for kind, arg in self.actions if kind == "steer")


class ControlLink:
    """Polls `Control` for the loop and keeps the pause-free training clock."""

    def __init__(
        self,
        control: Control,
        dist: DistContext,
        device: torch.device,
        emit: Callable[[Event], None],
        on_steer: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.control = control
        self.on_steer = on_steer
        self.dist = dist
        self.device = device
        self.emit = emit
        self.paused_total = 0.0  # seconds off the training clock: paused, saving checkpoints
        self._off = False  # inside a pause or a save: the outer one counts the time

    def clock(self) -> float:
        """Monotonic seconds that stand still while the run is paused or saves a checkpoint."""
        return time.monotonic() - self.paused_total

    @contextlib.contextmanager
    def off_the_clock(self) -> Iterator[None]:
        """Time spent inside does not count as training time (nested: counted once)."""
        if self._off:
            yield
            return
        self._off, start = True, time.monotonic()
        try:
            yield
        finally:
            self.paused_total += time.monotonic() - start
            self._off = False

    def flags(self, *, take_checkpoint: bool = True, wait: float = 0.0) -> ControlFlags:
        """Rank 0 reads `Control` (waiting up to `wait` s while paused) and every rank gets it.

        On the other ranks a stop is copied into their own `Control`, so the run's status and
        exit code match rank 0's. The queued requests are taken at step boundaries only (not
        with `take_checkpoint=False`, the epoch-end check).
        """
        c = self.control
        flags = [0, 0, 0, 0, 0]
        actions: list[Action] = []
        if self.dist.is_main:
            if wait and c.paused:
                c.wait_while_paused(wait)
            if take_checkpoint:
                actions = c.take_actions()
            flags = [
                int(c.paused),
                _STOP_CODES[c.stop_mode],
                int(c.stop_status == "interrupted"),
                c.exit_signal or 0,
                len(actions),
            ]
        paused, stop, interrupted, signal, n_actions = self.dist.broadcast_flags(flags, self.device)
        if n_actions:
            actions = [tuple(a) for a in self.dist.broadcast_object(actions)]
        mode = _STOP_MODES[stop]
        if not self.dist.is_main and mode is not StopMode.NONE:
            c.request_stop(
                mode, status="interrupted" if interrupted else "stopped", signal=signal or None
            )
        return ControlFlags(bool(paused), mode, tuple(actions))

    def poll(self, epoch: int, step: int, checkpoint: Callable[[str], None]) -> None:
        """At a step boundary: honour the queued requests in arrival order (steering, a
        checkpoint, a pause that blocks here while later requests are honoured as they come),
        then StopNow (after a checkpoint) on a stop at the step."""
        flags = self.flags()
        actions = list(flags.actions)
        if flags.paused and ("pause", "") not in actions:
            actions.append(("pause", ""))  # paused without a queued marker: after the rest
        with contextlib.ExitStack() as stack:
            paused = False

            def pause() -> None:
                nonlocal paused
                if flags.paused and not paused:  # not when resumed again before this boundary
                    paused = True
                    stack.enter_context(self.off_the_clock())
                    self.emit(Paused(epoch + 1, step))

            self._honour(actions, checkpoint, pause)
            while paused and flags.paused:  # rank 0 re-broadcasts at most every 0.1 s
                flags = self.flags(wait=0.1)
                self._honour(list(flags.actions), checkpoint, lambda: None)
        if paused:
            self.emit(Resumed(epoch + 1, step))
        if flags.stop is StopMode.STEP:
            checkpoint("signal" if self.control.exit_signal else "stop")
            raise StopNow

    def _honour(
        self, actions: list[Action], checkpoint: Callable[[str], None], pause: Callable[[], None]
    ) -> None:
        """Each request in order; steering changes next to each other go as one batch."""
        steers: list[str] = []
        for kind, arg in actions:
            if kind == "steer":
                steers.append(arg)
                continue
            self._steer(steers)
            if kind == "checkpoint":
                checkpoint("request")
            elif kind == "pause":
                pause()
        self._steer(steers)

    def _steer(self, steers: list[str]) -> None:
        if steers and self.on_steer is not None:
            self.on_steer(list(steers))
        steers.clear()

    def stop_requested(self) -> bool:
        """At an epoch end: whether any stop is pending (the same answer on every rank)."""
        return self.flags(take_checkpoint=False).stop is not StopMode.NONE
