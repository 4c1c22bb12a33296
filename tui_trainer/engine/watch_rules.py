"""The watchdog's rules: pure state machines over a run's events and a clock (no threads here).

Each rule sees every event (`observe`) and, for the ones timed from outside the event stream,
the clock (`tick`); it returns a `Trip` when it trips. A rule trips once per episode: it is
re-armed only once its condition has cleared (the loss came back down, a step finished, the
GPU got busy again), so a long bad stretch raises one alert, not one per progress event.
`engine.watchdog` turns trips into `Alert` events and applies the rules' actions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tui_trainer.config.alerts import (
    DataWaitRule,
    EtaRule,
    GpuIdleRule,
    PlateauRule,
    SpikeRule,
    StallRule,
)
from tui_trainer.formatting import duration
from tui_trainer.runlog.events import (
    EpochEnd,
    Event,
    LogMessage,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    Steered,
    StepProgress,
    ValidationProgress,
)

NONFINITE_TEXT = "non-finite"
"""What the engine's non-finite loss messages say (`engine.faults`: a stop, or a skipped step)."""

SPIKE_SMOOTHING = 0.1
"""Weight of the newest window in the running mean of the loss."""

SPIKE_MIN_WINDOWS = 3
"""Progress windows the running mean needs before a spike is judged against it."""


def span(seconds: float) -> str:
    """`4.2 s` under two minutes, `M:SS` / `H:MM:SS` above."""
    return (
        f"{seconds:.2g} s"
        if seconds < 10
        else (f"{seconds:.0f} s" if seconds < 120 else duration(seconds, compact=True))
    )


@dataclass(frozen=True)
class Trip:
    """A rule tripped: the alert's text and figures."""

    message: str
    value: float | None
    threshold: float | None
    level: str = "warning"


class NonFinite:
    """The training loss became NaN/inf: a progress window's loss, or the engine saying so
    (on_nonfinite=stop ends the run with an error line; skip warns per skipped step)."""

    def __init__(self) -> None:
        self.fired = False

    def observe(self, event: Event) -> Trip | None:
        """A trip for the first non-finite loss (again only after a finite window)."""
        if isinstance(event, StepProgress):
            if math.isfinite(event.loss):
                self.fired = False
                return None
            return self._trip(f"training loss is {event.loss} at epoch {event.epoch}")
        if (
            isinstance(event, LogMessage)
            and event.level in ("warning", "error")
            and NONFINITE_TEXT in event.message
            and "loss" in event.message
        ):
            return self._trip(event.message)
        return None

    def _trip(self, message: str) -> Trip | None:
        if self.fired:
            return None
        self.fired = True
        return Trip(message, None, None, level="error")


class Spike:
    """A window's loss above `factor` × the running mean of the loss (after a warm-up)."""

    def __init__(self, rule: SpikeRule) -> None:
        self.rule = rule
        self.mean: float | None = None
        self.windows = 0
        self.fired = False

    def observe(self, event: Event) -> Trip | None:
        """Judge one progress window's loss, then fold it into the running mean."""
        if not isinstance(event, StepProgress) or not math.isfinite(event.loss):
            return None
        loss, mean, trip = event.loss, self.mean, None
        judged = (
            mean is not None
            and mean > 0
            and self.windows >= SPIKE_MIN_WINDOWS
            and event.global_step >= self.rule.warmup_steps
        )
        if judged and mean is not None and loss > self.rule.factor * mean:
            if not self.fired:
                self.fired = True
                trip = Trip(
                    f"loss spike: {loss:.4g} is {loss / mean:.3g}x its running mean {mean:.4g} "
                    f"(epoch {event.epoch}, step {event.global_step})",
                    loss,
                    self.rule.factor * mean,
                )
        else:
            self.fired = False
        self.mean = loss if mean is None else mean + SPIKE_SMOOTHING * (loss - mean)
        self.windows += 1
        return trip


class Plateau:
    """No new best value of the monitored metric for `epochs` epochs."""

    def __init__(self, rule: PlateauRule) -> None:
        self.rule = rule
        self.fired_for: int | None = None  # the best epoch the alert was raised against

    def observe(self, event: Event) -> Trip | None:
        """At each epoch's end: epochs since the best one."""
        if not isinstance(event, EpochEnd):
            return None
        best = event.best_epoch or 0
        waited = event.epoch - best
        if waited < self.rule.epochs or self.fired_for == best:
            return None
        self.fired_for = best
        metric = event.best_metric or "the monitored metric"
        since = (
            f"since epoch {best} ({event.best_value:.4g})"
            if best and isinstance(event.best_value, (int, float))
            else "yet"
        )
        return Trip(
            f"plateau: no better {metric} for {waited} epochs {since}",
            float(waited),
            float(self.rule.epochs),
        )


class Stall:
    """No training step or validation batch finished for `seconds`: timed by the watchdog's
    thread (`tick`).

    The clock runs while the run trains or validates: from its start, each progress event (a
    few a second while steps or validation batches finish) restarts it. It stops when a pass
    that reported says its batches are done (the metrics' computation is not timed), at a
    pause and at the end; the epoch's record and a resume start it again."""

    def __init__(self, rule: StallRule) -> None:
        self.rule = rule
        self.since: float | None = None  # when the clock last restarted; None: not timing
        self.where = "before the first step"
        self.what = "training step"  # or "validation batch": what the clock waits for
        self.fired = False
        self.after_pass = False  # stopped at a pass's end: the next event restarts the clock
        self.limit = rule.seconds  # never under three progress intervals (a slow reporter)

    def observe(self, event: Event, now: float) -> None:
        """Restart, start or stop the clock."""
        if isinstance(event, StepProgress):
            self.where = f"epoch {event.epoch}, after step {event.step}/{event.steps}"
            self.what = "training step"
            if event.step >= event.steps:  # validation follows: its batches report as they end
                self.where, self.what = f"epoch {event.epoch}, validating", "validation batch"
            self._restart(now)
        elif isinstance(event, ValidationProgress):
            done = f"{event.batch}/{event.batches}"
            self.where = f"epoch {event.epoch}, validating, after batch {done}"
            self.what = "validation batch"
            # the pass's batches all done: its metrics are computed (a COCO evaluation may take
            # a while), untimed as before; the next event of any kind starts the clock again
            ended = event.batch >= event.batches
            self._restart(None if ended else now)
            if ended:
                self.where, self.after_pass = f"epoch {event.epoch}, after validating", True
        elif isinstance(event, (RunStarted, EpochEnd, Resumed)):
            if isinstance(event, RunStarted):  # progress comes every `interval` at most
                interval = (event.config.get("progress") or {}).get("interval")
                if isinstance(interval, (int, float)):
                    self.limit = max(self.rule.seconds, 3 * float(interval))
            if isinstance(event, EpochEnd):
                self.where = f"start of epoch {event.epoch + 1}"
            self.what = "training step"
            self._restart(now)
        elif isinstance(event, (Paused, RunFinished)):
            self._restart(None)
        elif self.since is not None or self.after_pass:  # a checkpoint, a steering change, the
            if self.after_pass:  # pictures or the result of a pass: the loop is alive, and
                self.what = "training step"  # training comes next
            self._restart(now)

    def _restart(self, since: float | None) -> None:
        self.since, self.fired, self.after_pass = since, False, False

    def tick(self, now: float) -> Trip | None:
        """A trip once the clock passed `seconds` (once per stall)."""
        if self.since is None or self.fired:
            return None
        waited = now - self.since
        if waited < self.limit:
            return None
        self.fired = True
        return Trip(
            f"stall: no {self.what} finished for {span(waited)} "
            f"({self.where}): a hung data loader or a stuck process?",
            round(waited, 1),
            self.limit,
        )


class GpuIdle:
    """The run's GPU under `percent` utilisation for `seconds` while the run trains."""

    def __init__(self, rule: GpuIdleRule, utilization: Callable[[], float | None]) -> None:
        self.rule = rule
        self.utilization = utilization
        self.training = False
        self.idle_since: float | None = None
        self.fired = False

    def observe(self, event: Event) -> None:
        """Training or not (paused, ended): idle time counts only while training."""
        if isinstance(event, (RunStarted, Resumed)):
            self.training = True
        elif isinstance(event, (Paused, RunFinished)):
            self.training, self.idle_since = False, None

    def tick(self, now: float) -> Trip | None:
        """Read the utilisation; a trip once idle for `seconds` (once per idle stretch)."""
        util = self.utilization() if self.training else None
        if util is None or util >= self.rule.percent:
            self.idle_since, self.fired = None, False
            return None
        if self.idle_since is None:
            self.idle_since = now
        if self.fired or now - self.idle_since < self.rule.seconds:
            return None
        self.fired = True
        idle = span(now - self.idle_since)
        return Trip(
            f"GPU idle: utilisation {util:.0f}% (under {self.rule.percent:g}%) for {idle} "
            "while training: the GPU waits on something (data, the CPU, another process?)",
            util,
            self.rule.percent,
        )


class DataWait:
    """Waiting on the loader above `percent` of the training time, `windows` windows running."""

    def __init__(self, rule: DataWaitRule) -> None:
        self.rule = rule
        self.streak = 0
        self.fired = False

    def observe(self, event: Event) -> Trip | None:
        """Count the windows in a row whose data share is above the threshold."""
        if not isinstance(event, StepProgress) or not event.time_parts:
            return None
        share = event.time_parts.get("data")
        if share is None or not math.isfinite(share) or share * 100 <= self.rule.percent:
            self.streak, self.fired = 0, False
            return None
        self.streak += 1
        if self.fired or self.streak < self.rule.windows:
            return None
        self.fired = True
        return Trip(
            f"data wait: {share:.0%} of the step time is spent waiting on the data loader "
            f"({self.streak} windows in a row): raise data.num_workers, or data.cache=ram",
            round(share * 100, 1),
            self.rule.percent,
        )


class EtaSlip:
    """The projected training time grew more than `percent` over the first estimate.

    The projection is this process's: the rate since its first progress event (a resume, even
    mid-epoch, starts afresh), in training time (pauses and validation left out). Changing
    `epochs` by steering takes a new first estimate."""

    def __init__(self, rule: EtaRule) -> None:
        self.rule = rule
        self.origin: tuple[float, float] | None = None  # (epochs done, elapsed) at the start
        self.first: float | None = None
        self.fired = False

    def observe(self, event: Event) -> Trip | None:
        """Compare this window's projection with the first one."""
        if isinstance(event, Steered) and event.what == "epochs":
            self.first, self.fired = None, False
        if not isinstance(event, StepProgress):
            return None
        e = event
        done = (e.epoch - 1) + e.step / max(e.steps, 1)  # epochs done, from the run's start
        if self.origin is None:
            self.origin = (done, e.elapsed)
            return None
        done0, elapsed0 = self.origin
        ran, took, left = done - done0, e.elapsed - elapsed0, e.epochs - done0
        if ran <= 0 or took <= 0 or left <= 0:
            return None
        total = took * left / ran  # training seconds for this process's share of the run
        if self.first is None:
            if ran / left >= self.rule.after:
                self.first = total
            return None
        limit = max(self.first * (1 + self.rule.percent / 100), self.first + self.rule.min_seconds)
        if total <= limit:
            self.fired = False
            return None
        if self.fired:
            return None
        self.fired = True
        slip = total / self.first - 1
        return Trip(
            f"ETA slipping: training now projected at {duration(total, compact=True)}, "
            f"{slip:.0%} over the first estimate of {duration(self.first, compact=True)}",
            round(slip * 100, 1),
            self.rule.percent,
        )
