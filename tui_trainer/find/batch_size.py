"""The batch-size finder: the largest per-process batch whose FULL training steps (forward,
backward, optimizer step at the preset's precision and image size) and a validation pass at the
run's validation batch fit, measured rather than guessed.

- CUDA: peak memory (`torch.cuda.max_memory_allocated` after a reset) of a few steps, less what
  the preset's own model holds (the finder trains a copy beside it); a batch fits when it ran
  without running out of memory and its peak stays under `fraction` of the device's memory.
  Doubling from the preset's batch until one does not fit, then a binary search between.
- CPU: each power of two in turn, measuring the process's RSS growth (psutil, sampled in a
  thread while the steps run, freed memory given back to the OS between sizes) and samples/s;
  the fastest batch whose growth stays within `fraction` of the available RAM (or a bound given).

The validation batch is measured too (`data.val_batch_size`, default twice the batch): a batch
that trains but whose validation runs out of memory is the classic "fits, then dies after the
first epoch".
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import statistics
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field, replace

import psutil
import torch

from tui_trainer.engine.device import autocast
from tui_trainer.engine.faults import is_oom
from tui_trainer.engine.model_parts import has_batchnorm
from tui_trainer.find.parts import Batch, TrainingCopy, TrainParts
from tui_trainer.find.report import size_text

STEPS = 3
"""The fewest timed training steps per batch size (after one warm-up step: the optimizer's
state exists from the first step on, so the peak includes it)."""

TIMED = 0.5
"""Timed steps go on until this many seconds have passed (at most `MOST_STEPS`): a steadier rate."""

MOST_STEPS = 50

SLOWER = 0.8
"""CPU: a size is slower when its rate is under this share of the best so far; two slower sizes
in a row end the search."""

CPU_START = 8
"""CPU: the first size tried (smaller ones only when it does not fit): below it a step's fixed
costs dominate and the timings are noise."""

LARGEST = 1 << 16
"""No batch size above this is tried."""


class OutOfMemory(Exception):
    """A measured batch ran out of memory."""


@dataclass(frozen=True)
class Trial:
    """One batch size as measured."""

    batch: int
    fits: bool
    peak_bytes: int | None  # CUDA: peak allocated; CPU: RSS growth (None: out of memory)
    samples_per_s: float | None
    why: str  # why it does not fit ("" when it does)


@dataclass(frozen=True)
class BatchFinding:
    """The chosen batch, the bound it was held to, every trial, and why."""

    batch: int | None
    device: str
    bound_bytes: int
    capacity_bytes: int  # the device's memory (CUDA) or the RAM available at the start (CPU)
    val_batch: str  # how the validation batch was derived ("2x the batch", "64 (set)")
    trials: list[Trial] = field(default_factory=list)
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        """Plain values for `--json`."""
        return {**asdict(self), "trials": [asdict(t) for t in self.trials]}


Probe = Callable[[], int]
"""The process's memory now, in bytes (default: its RSS)."""


def rss() -> int:
    """This process's resident set size."""
    return int(psutil.Process().memory_info().rss)


def find_batch(
    parts: TrainParts,
    *,
    fraction: float = 0.9,
    bound_bytes: int | None = None,
    probe: Probe = rss,
    on_trial: Callable[[Trial], None] | None = None,
) -> BatchFinding:
    """Measure batch sizes on `parts`' device and choose one (see the module docstring)."""
    if parts.device.type == "cuda":
        return _find_cuda(parts, fraction, bound_bytes, on_trial)
    return _find_cpu(parts, fraction, bound_bytes, probe, on_trial)


def _val_batch(parts: TrainParts, batch: int) -> tuple[int, str]:
    fixed = parts.config.data.val_batch_size
    return (fixed, f"{fixed} (data.val_batch_size)") if fixed else (2 * batch, "2x the batch")


def _limits(parts: TrainParts) -> tuple[int, int]:
    """The smallest batch the model trains on (BatchNorm: 2) and the largest the data allows."""
    least = 2 if has_batchnorm(parts.trainer.model) else 1
    samples = parts.trainer.data.train_samples // max(parts.dist.world_size, 1)
    return least, max(least, min(samples, LARGEST))


def _steps(parts: TrainParts, batch: int, probe: Callable[[], None]) -> float:
    """A warm-up step and timed full training steps at `batch` on a copy (`STEPS` to
    `MOST_STEPS`, for `TIMED` seconds), then one validation forward at the validation batch;
    samples/s of the timed steps. `probe` runs after each phase. Raises OutOfMemory."""
    copy = parts.copy()
    copy.stepper.net.train()
    batches = parts.batches(batch)
    try:
        speed = _timed_steps(parts, copy, batches, probe)
    except Exception as exc:  # the optimizer's state, allocated at its first step
        if not is_oom(exc):
            raise
        raise OutOfMemory from None
    finally:
        batches.close()
    val_batch, _ = _val_batch(parts, batch)
    val_batches = parts.batches(val_batch)
    try:
        x, _targets, labels, _n = next(val_batches)
        copy.model.eval()
        with torch.no_grad(), autocast(parts.device, parts.config.precision):
            parts.trainer.task.eval_step(copy.model, copy.stepper.criterion, x, labels)
    except Exception as exc:
        if not is_oom(exc):
            raise
        raise OutOfMemory from None
    finally:
        val_batches.close()
    probe()
    return speed


def _timed_steps(
    parts: TrainParts,
    copy: TrainingCopy,
    batches: Generator[Batch, None, None],
    probe: Callable[[], None],
) -> float:
    """The warm-up step, then the timed ones; samples/s of the timed ones: over their whole
    time on CUDA (steps run asynchronously), from the median step on a CPU (a step the OS
    held up, on a busy machine, does not count)."""
    stepper, accumulate = copy.stepper, parts.config.accumulate
    seen, t0 = 0, 0.0
    rates: list[float] = []
    for i in range(MOST_STEPS + 1):
        if i > STEPS and time.perf_counter() - t0 >= TIMED:
            break
        if i == 1:
            _sync(parts)
            t0 = time.perf_counter()
        t_step = time.perf_counter()
        window = [next(batches) for _ in range(accumulate)]
        total = sum(n for *_, n in window)
        for x, targets, _labels, n in window:
            if stepper.backward(x, targets, n / total, defer_sync=False) is None:
                stepper.discard(free_cache=True)
                raise OutOfMemory
            probe()
        stepper.step()
        probe()
        if i:
            seen += total
            rates.append(total / max(time.perf_counter() - t_step, 1e-9))
    _sync(parts)
    if parts.device.type != "cuda":
        return statistics.median(rates)
    return seen / max(time.perf_counter() - t0, 1e-9)


def _sync(parts: TrainParts) -> None:
    if parts.device.type == "cuda":
        torch.cuda.synchronize(parts.device)


# -- CUDA ----------------------------------------------------------------------------------------
def _find_cuda(
    parts: TrainParts,
    fraction: float,
    bound_bytes: int | None,
    on_trial: Callable[[Trial], None] | None,
) -> BatchFinding:
    device = parts.device
    capacity = int(torch.cuda.get_device_properties(device).total_memory)
    bound = min(int(capacity * fraction), bound_bytes or capacity)
    model = parts.trainer.model
    held = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    trials: dict[int, Trial] = {}

    def measure(batch: int) -> Trial:
        if batch in trials:
            return trials[batch]
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        try:
            speed = _steps(parts, batch, lambda: None)
            peak = int(torch.cuda.max_memory_allocated(device)) - held
            fits = peak <= bound
            why = "" if fits else f"peak {size_text(peak)} over the bound {size_text(bound)}"
            trial = Trial(batch, fits, peak, round(speed, 1), why)
        except OutOfMemory:
            trial = Trial(batch, False, None, None, "out of memory")
        gc.collect()
        torch.cuda.empty_cache()
        trials[batch] = trial
        if on_trial is not None:
            on_trial(trial)
        return trial

    least, most = _limits(parts)
    good, bad = _search(measure, min(max(parts.config.data.batch_size, least), most), least, most)
    found = good.batch if good else None
    val = _val_batch(parts, found or parts.config.data.batch_size)[1]
    ordered = sorted(trials.values(), key=lambda t: t.batch)
    if good is None:
        reason = f"not even batch {least} fits under {size_text(bound)}"
    else:
        reason = (
            f"batch {good.batch}: peak {size_text(good.peak_bytes or 0)} of training steps and "
            f"validation at {val}, under {size_text(bound)} "
            f"({fraction:.0%} of {size_text(capacity)})"
        )
        reason += f"; batch {bad.batch}: {bad.why}" if bad else f"; {most} is as large as it goes"
    return BatchFinding(found, str(device), bound, capacity, val, ordered, reason)


def _search(
    measure: Callable[[int], Trial], first: int, least: int, most: int
) -> tuple[Trial | None, Trial | None]:
    """(largest fitting trial, smallest failing trial above it): doubling from `first` (halving
    when it does not fit), then a binary search to within 1/16 of the answer."""
    good: Trial | None = None
    bad: Trial | None = None
    trial = measure(first)
    if trial.fits:
        good = trial
        while good.batch < most:
            nxt = measure(min(good.batch * 2, most))
            if not nxt.fits:
                bad = nxt
                break
            good = nxt
    else:
        bad = trial
        batch = first
        while batch > least:
            batch = max(batch // 2, least)
            nxt = measure(batch)
            if nxt.fits:
                good = nxt
                break
            bad = nxt
    while (
        good is not None and bad is not None and bad.batch - good.batch > max(1, good.batch // 16)
    ):
        mid = (good.batch + bad.batch) // 2
        trial = measure(mid)
        if trial.fits:
            good = trial
        else:
            bad = trial
    return good, bad


# -- CPU -----------------------------------------------------------------------------------------
def _find_cpu(
    parts: TrainParts,
    fraction: float,
    bound_bytes: int | None,
    probe: Probe,
    on_trial: Callable[[Trial], None] | None,
) -> BatchFinding:
    capacity = int(psutil.virtual_memory().available)
    bound = min(int(capacity * fraction), bound_bytes or capacity)
    least, most = _limits(parts)
    start = min(max(least, CPU_START), most)
    with contextlib.suppress(OutOfMemory):  # the libraries' first-use allocations, unmeasured
        _steps(parts, least, lambda: None)

    def measure(batch: int) -> Trial:
        trial = _measure_cpu(parts, batch, bound, probe)
        if on_trial is not None:
            on_trial(trial)
        return trial

    best, trials, why = choose_cpu(measure, least, most, start=start)
    val = _val_batch(parts, best.batch if best else parts.config.data.batch_size)[1]
    if best is None:
        reason = f"not even batch {least} stays within {size_text(bound)} of RAM growth"
        return BatchFinding(None, "cpu", bound, capacity, val, trials, reason)
    best, noise = _confirm(best, trials, measure)
    reason = (
        f"batch {best.batch}: the most samples/s ({best.samples_per_s:,.0f}) among the sizes "
        f"whose RSS growth (training steps and validation at {val}) stays within {size_text(bound)}"
        f"; {why}{noise}"
    )
    return BatchFinding(best.batch, "cpu", bound, capacity, val, trials, reason)


NOISY = 1.5
"""CPU: two measurements of one size further apart than this ratio make the choice rough."""


def _confirm(
    best: Trial, trials: list[Trial], measure: Callable[[int], Trial]
) -> tuple[Trial, str]:
    """Measure the two fastest fitting sizes once more and keep the faster: a busy machine only
    slows a step down, so each size's faster reading is its speed (a size the other processes
    held up once gets a second chance); a note when a size's two readings differ by more than
    `NOISY`x."""
    fitting = sorted((t for t in trials if t.fits), key=lambda t: -(t.samples_per_s or 0.0))
    means: list[tuple[float, Trial]] = []
    spread = 1.0
    for first in fitting[:2]:
        again = measure(first.batch)
        trials.append(again)
        rates = [first.samples_per_s or 0.0, again.samples_per_s or 0.0]
        if not again.fits or min(rates) <= 0:
            continue
        spread = max(spread, max(rates) / min(rates))
        means.append((max(rates), replace(first, samples_per_s=max(rates))))
    chosen = max(means, key=lambda m: m[0])[1] if means else best
    if spread <= NOISY:
        return chosen, ""
    return chosen, (
        f"; measured twice, a size's samples/s differed {spread:.1f}x (a busy machine): "
        "treat the choice as rough, or rerun when the machine is idle"
    )


def choose_cpu(
    measure: Callable[[int], Trial], least: int, most: int, start: int | None = None
) -> tuple[Trial | None, list[Trial], str]:
    """(the fastest fitting trial, every trial, why the search ended): sizes `start` (default
    `least`), then the powers of two, then `most`, until one does not fit (a larger one grows
    more) or two in a row are slower than the best so far (larger ones only cost memory). When
    `start` does not fit, halving down to the first that does."""
    first = least if start is None else start
    trials = [measure(first)]
    if not trials[0].fits:
        why = f"batch {first}: {trials[0].why}"
        batch = first
        while batch > least:
            batch = max(batch // 2, least)
            trials.append(measure(batch))
            if trials[-1].fits:
                return trials[-1], trials, why
        return None, trials, why
    slower = 0
    why = f"{most} is as large as the data allows"
    for batch in _powers(first, most):
        trial = trials[0] if batch == first else measure(batch)
        if batch != first:
            trials.append(trial)
        if not trial.fits:
            why = f"batch {trial.batch}: {trial.why}"
            break
        best = max(t.samples_per_s or 0.0 for t in trials if t.fits)
        slower = slower + 1 if (trial.samples_per_s or 0.0) < SLOWER * best else 0
        if slower == 2:
            why = "the two sizes above it were slower"
            break
    fitting = [t for t in trials if t.fits]
    chosen = max(fitting, key=lambda t: t.samples_per_s or 0.0) if fitting else None
    return chosen, trials, why


def _powers(least: int, most: int) -> Iterator[int]:
    """least, then the powers of two above it, then `most` itself (the whole data)."""
    batch = least
    yield batch
    batch = 1 << math.ceil(math.log2(batch + 1))
    while batch < most:
        yield batch
        batch *= 2
    if most > least:
        yield most


def _measure_cpu(parts: TrainParts, batch: int, bound: int, probe: Probe) -> Trial:
    _give_back_memory()
    base = probe()
    with _PeakSampler(probe) as peak:
        try:
            speed = _steps(parts, batch, peak.sample)
        except OutOfMemory:
            return Trial(batch, False, None, None, "out of memory")
    growth = max(peak.value - base, 0)
    fits = growth <= bound
    why = "" if fits else f"RSS grew {size_text(growth)}, over the bound {size_text(bound)}"
    return Trial(batch, fits, growth, round(speed, 1), why)


class _PeakSampler:
    """The highest `probe()` reading while the block runs: sampled every few milliseconds in a
    thread (transient peaks inside a backward pass) and at each `sample` call."""

    every = 0.005  # seconds between readings (each takes the GIL for ~20 us)

    def __init__(self, probe: Probe) -> None:
        self.probe, self.value = probe, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def sample(self) -> None:
        """Take a reading now."""
        self.value = max(self.value, self.probe())

    def _run(self) -> None:
        while not self._done.wait(self.every):
            self.sample()

    def __enter__(self) -> _PeakSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.sample()


def _give_back_memory() -> None:
    """Free what the last size left and hand freed heap pages back to the OS (glibc), so the
    next size's RSS growth is its own."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
