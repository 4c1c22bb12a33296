"""Progress events of the training loop: one `StepProgress` every `progress.interval` seconds,
and a `ValidationProgress` as often while a validation pass runs (`ValidationReporter`).

The throttle runs across epochs (short epochs still report); the first optimizer step and the
last one of every epoch report at once. Each event takes the one host sync of the loss since
the previous event (`EpochMeter.take_progress_loss`), the one speed every front end shows
(`RateMeter`) and where the window's time went (`TimeSplit.take_window`, read after that sync).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tui_trainer.engine import faults
from tui_trainer.engine.lr_schedule import LRSchedule
from tui_trainer.engine.meter import EpochMeter
from tui_trainer.engine.progress import Progress
from tui_trainer.engine.rate import RateMeter
from tui_trainer.engine.stateful import CurrentConfig
from tui_trainer.runlog.events import StepProgress, ValidationProgress


class ProgressReporter:
    """Emits the run's `StepProgress` events when one is due (rank 0)."""

    def __init__(
        self,
        meter: EpochMeter,
        position: Progress,
        schedule: LRSchedule,
        config: CurrentConfig,
        *,
        lr: Callable[[], float],
        grad_norm: Callable[[], float | None],
        time_parts: Callable[[], dict[str, float] | None] = lambda: None,
    ) -> None:
        self.meter, self.position, self.schedule, self.config = meter, position, schedule, config
        self.lr, self.grad_norm, self.time_parts = lr, grad_norm, time_parts
        self.rates = RateMeter()
        self.last = 0.0  # monotonic time of the latest event

    def at_step(
        self,
        emit: Callable[[StepProgress], None],
        epoch: int,
        step: int,
        steps: int,
        epoch_seconds: Callable[[], float],
        train_seconds: float,
    ) -> None:
        """After optimizer step `step` of `steps` in 0-based `epoch`: an event when one is due.

        `epoch_seconds` is the epoch's training time so far, `train_seconds` the earlier
        epochs' (asked only when an event is due).
        """
        now = time.monotonic()
        if now - self.last < self.config.value.progress.interval and step != steps:
            return
        dt = epoch_seconds()
        parts = self.meter.take_progress_parts()
        loss = self.meter.take_progress_loss()
        faults.check_finite_loss(loss, epoch, step)
        p = self.position
        elapsed = train_seconds + dt
        rates = self.rates.update(elapsed, epoch + 1, step, steps, p.samples)
        emit(
            StepProgress(
                epoch=epoch + 1,
                epochs=self.schedule.epochs,
                step=step,
                steps=steps,
                global_step=p.global_step,
                loss=loss,
                lr=self.lr(),
                samples_per_second=rates.samples_per_second,
                elapsed=elapsed,
                grad_norm=self.grad_norm(),
                steps_per_second=rates.steps_per_second,
                epoch_elapsed=dt,
                loss_parts=parts,
                time_parts=self.time_parts(),
            )
        )
        self.last = now


class ValidationReporter:
    """Emits `ValidationProgress` every `progress.interval` seconds of one validation pass
    (rank 0). Nothing is synced from the device: the batch count is the loop's own. A pass
    shorter than the interval emits nothing; one that reported says when its batches are all
    done (`done`: the metrics' computation that follows is not a stalled batch)."""

    def __init__(
        self,
        emit: Callable[[ValidationProgress], None],
        epoch: int,
        epochs: int,
        batches: int,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.emit, self.epoch, self.epochs, self.batches = emit, epoch, epochs, batches
        self.interval, self.clock = interval, clock
        self.start = self.last = clock()
        self.reported = 0  # the batch count of the latest event (0: none yet)

    def __call__(self, batch: int) -> None:
        """After validation batch `batch` (1-based) of the pass: an event when one is due."""
        now = self.clock()
        if now - self.last >= self.interval:
            self._send(batch, max(self.batches, batch), now)

    def done(self, batches: int) -> None:
        """The pass's loop ended after `batches` batches: its last event says so (`batch ==
        batches`), unless the pass was too short to report at all or already said it."""
        if self.reported and self.reported != batches:
            self._send(batches, batches, self.clock())

    def _send(self, batch: int, batches: int, now: float) -> None:
        self.last, self.reported = now, batch
        self.emit(ValidationProgress(self.epoch, self.epochs, batch, batches, now - self.start))
