"""Training speed: the one definition of it/s and samples/s that every front end shows.

The engine feeds `RateMeter` at its throttled progress events (never per step) with the
training clock (`ControlLink.clock`: pauses, validation and checkpoint saves excluded), where
the epoch is and how many samples were trained. The meter answers with smoothed rates over the
windows between those points, tqdm-style: an exponential moving average of the steps, the
samples and the seconds of each window, then a ratio of the averages, so it/s and samples/s
always come from the same windows and `samples/s ÷ it/s` is the real number of samples in a
step (``data.batch_size`` × processes; the last, smaller batch of an epoch included).

One "it" is one micro-batch, the unit of the step bar: with ``accumulate: k`` an optimizer step
is k its. Until a meaningful window exists there is no rate (``None``, shown as "–"): the first
progress point of a process is only the baseline (it includes start-up: data workers, compile,
allocations), and windows shorter than `MIN_WINDOW_SECONDS` join the next one.

Pure Python, no torch: the front ends and tests use it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

SMOOTHING = 0.3
"""Weight of the newest window in the moving averages (tqdm's default)."""

MIN_WINDOW_SECONDS = 0.5
"""A window shorter than this (training seconds) joins the next one before it counts."""


@dataclass(frozen=True)
class Rates:
    """Smoothed speed; both None until there is a meaningful window."""

    steps_per_second: float | None = None  # micro-batches ("it") per second
    samples_per_second: float | None = None  # training samples per second, all processes


@dataclass
class _Point:
    clock: float  # training seconds
    epoch: int  # 1-based
    step: int  # micro-batches done in `epoch`
    steps: int  # micro-batches in `epoch`
    samples: int  # samples trained so far (this process's run, all ranks)


class RateMeter:
    """Smoothed it/s and samples/s from the engine's progress points (see the module docstring)."""

    def __init__(self, *, smoothing: float = SMOOTHING, min_window: float | None = None) -> None:
        self.smoothing = smoothing
        self.min_window = MIN_WINDOW_SECONDS if min_window is None else min_window
        self._base: _Point | None = None
        self._avg: tuple[float, float, float] | None = None  # steps, samples, seconds
        self.rates = Rates()

    def update(self, clock: float, epoch: int, step: int, steps: int, samples: int) -> Rates:
        """A progress point; the rates after it (unchanged while the window is too short)."""
        point = _Point(clock, epoch, step, steps, samples)
        base = self._base
        if base is None:
            self._base = point
            return self.rates
        done = _steps_between(base, point)
        seconds, trained = clock - base.clock, samples - base.samples
        if done < 0 or trained < 0 or seconds < 0:  # the position went back: start again
            self._base = point
            return self.rates
        if seconds < self.min_window or done == 0:
            return self.rates  # too short to mean anything: the window grows
        window = (float(done), float(trained), seconds)
        if self._avg is None:
            avg = window
        else:
            a = self.smoothing
            (d, n, s), (d0, n0, s0) = window, self._avg
            avg = (a * d + (1 - a) * d0, a * n + (1 - a) * n0, a * s + (1 - a) * s0)
        self._avg = avg
        self._base = point
        steps_avg, samples_avg, seconds_avg = avg
        self.rates = Rates(steps_avg / seconds_avg, samples_avg / seconds_avg)
        return self.rates


def _steps_between(a: _Point, b: _Point) -> int:
    """Micro-batches trained from point `a` to point `b` (possibly across epoch ends)."""
    if b.epoch == a.epoch:
        return b.step - a.step
    if b.epoch < a.epoch:
        return -1
    return (a.steps - a.step) + (b.epoch - a.epoch - 1) * b.steps + b.step


def mean_samples_per_second(samples: int, train_seconds: float) -> float:
    """The whole run's mean speed over its training time (summary.json's figure)."""
    return round(samples / train_seconds, 1) if train_seconds > 0 else 0.0
