"""Control polling at step boundaries: rank 0 reads `Control`, every rank gets the same flags.

In a single-process run the broadcast is a no-op. Pauses block here (the training clock
excludes them); checkpoint requests and stops are answered through the callbacks the loop gives.
Steering changes ride along: their count is one more flag, and when it is not zero rank 0's
changes follow as one object broadcast, so every rank applies them at the same step (`on_steer`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from tui_trainer.engine.control import Control, StopMode
from tui_trainer.engine.distributed import DistContext
from tui_trainer.engine.events import Event, Paused, Resumed

_STOP_CODES = {StopMode.NONE: 0, StopMode.EPOCH: 1, StopMode.STEP: 2}
_STOP_MODES = {v: k for k, v in _STOP_CODES.items()}


class StopNow(Exception):
    """Internal: leave the epoch loop at a step boundary."""


@dataclass(frozen=True)
class ControlFlags:
    """Rank 0's view of `Control` at a step boundary, the same on every rank."""

    paused: bool = False
    checkpoint: bool = False
    stop: StopMode = StopMode.NONE
    steers: tuple[str, ...] = ()


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
        exit code match rank 0's. Steering changes are taken at step boundaries only (not with
        `take_checkpoint=False`, the epoch-end check).
        """
        c = self.control
        flags = [0, 0, 0, 0, 0, 0]
        steers: list[str] = []
        if self.dist.is_main:
            if wait and c.paused:
                c.wait_while_paused(wait)
            flags = [
                int(c.paused),
                int(take_checkpoint and c.take_checkpoint_request()),
                _STOP_CODES[c.stop_mode],
                int(c.stop_status == "interrupted"),
                c.exit_signal or 0,
            ]
            if take_checkpoint and self.on_steer is not None:
                steers = c.take_steers()
            flags.append(len(steers))
        paused, checkpoint, stop, interrupted, signal, n_steers = self.dist.broadcast_flags(
            flags, self.device
        )
        if n_steers:
            steers = list(self.dist.broadcast_object(steers))
        mode = _STOP_MODES[stop]
        if not self.dist.is_main and mode is not StopMode.NONE:
            c.request_stop(
                mode, status="interrupted" if interrupted else "stopped", signal=signal or None
            )
        return ControlFlags(bool(paused), bool(checkpoint), mode, tuple(steers))

    def poll(self, epoch: int, step: int, checkpoint: Callable[[str], None]) -> None:
        """At a step boundary: pause while asked, checkpoint on request, StopNow on a stop;
        steering changes (also those sent while paused) apply here."""
        flags = self._steered(self.flags())
        if flags.paused:
            with self.off_the_clock():
                self.emit(Paused(epoch + 1, step))
                while flags.paused:  # rank 0 re-broadcasts at most every 0.1 s while paused
                    flags = self._steered(self.flags(wait=0.1))
                    if flags.checkpoint:
                        checkpoint("request")
            self.emit(Resumed(epoch + 1, step))
            flags = self._steered(self.flags())
        if flags.checkpoint:
            checkpoint("request")
        if flags.stop is StopMode.STEP:
            checkpoint("signal" if self.control.exit_signal else "stop")
            raise StopNow

    def _steered(self, flags: ControlFlags) -> ControlFlags:
        if flags.steers and self.on_steer is not None:
            self.on_steer(list(flags.steers))
        return flags

    def stop_requested(self) -> bool:
        """At an epoch end: whether any stop is pending (the same answer on every rank)."""
        return self.flags(take_checkpoint=False).stop is not StopMode.NONE
