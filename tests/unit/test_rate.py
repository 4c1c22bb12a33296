"""The one definition of training speed (engine.rate) and the clock it is measured on."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tui_trainer.engine.distributed import SINGLE
from tui_trainer.engine.polling import ControlLink
from tui_trainer.engine.rate import RateMeter, Rates, mean_samples_per_second
from tui_trainer.runlog.control import Control

# (seconds, micro-batches, samples per micro-batch) of one window between progress points
windows = st.lists(
    st.tuples(
        st.floats(0.5, 30.0),
        st.integers(1, 200),
        st.integers(1, 256),
    ),
    min_size=1,
    max_size=30,
)


def feed(meter: RateMeter, spans: list[tuple[float, int, int]], steps: int = 50) -> list[Rates]:
    """Progress points after each window, crossing epoch ends of `steps` micro-batches."""
    clock, done, samples = 0.0, 0, 0
    out = [meter.update(clock, 1, 0, steps, 0)]
    for seconds, n, batch in spans:
        clock, done, samples = clock + seconds, done + n, samples + n * batch
        epoch, step = divmod(done, steps)
        if step == 0:  # an epoch's last step reports as that epoch, step == steps
            epoch, step = epoch - 1, steps
        out.append(meter.update(clock, epoch + 1, step, steps, samples))
    return out


def test_first_point_is_only_a_baseline() -> None:
    meter = RateMeter()
    assert meter.update(0.001, 1, 1, 100, 64) == Rates(None, None)  # the "18001 step/s" case
    assert meter.update(0.2, 1, 3, 100, 192) == Rates(None, None)  # window still too short
    rates = meter.update(1.001, 1, 21, 100, 1344)  # 20 its of 64 in 1 s: now it counts
    assert rates.steps_per_second == pytest.approx(20)
    assert rates.samples_per_second == pytest.approx(1280)


@given(st.floats(0.1, 1e4), st.integers(1, 512), windows)
def test_a_steady_run_shows_its_true_rate(rate: float, batch: int, spans) -> None:
    """Whatever the windows, a constant speed is shown exactly, and samples/it is the batch."""
    meter = RateMeter()
    spans = [(n / rate, n, batch) for _s, n, _b in spans]
    meter.min_window = 0.0
    last = feed(meter, spans)[-1]
    assert last.steps_per_second == pytest.approx(rate, rel=1e-6)
    assert last.samples_per_second == pytest.approx(rate * batch, rel=1e-6)


@given(windows)
def test_rates_stay_within_the_windows_and_agree_with_each_other(spans) -> None:
    """Smoothing never invents a speed no window had; samples/it is always a real batch mean."""
    shown = feed(RateMeter(), spans)[1:]
    assert all(r.steps_per_second is not None for r in shown)  # every window is >= 0.5 s
    speeds = [n / seconds for seconds, n, _ in spans]
    batches = [batch for *_, batch in spans]
    for rates in shown:
        assert rates.steps_per_second is not None and rates.samples_per_second is not None
        assert min(speeds) * (1 - 1e-9) <= rates.steps_per_second <= max(speeds) * (1 + 1e-9)
        ratio = rates.samples_per_second / rates.steps_per_second
        assert min(batches) * (1 - 1e-9) <= ratio <= max(batches) * (1 + 1e-9)


def test_steps_are_counted_across_epoch_ends() -> None:
    meter = RateMeter(min_window=0.0)
    meter.update(0.0, 1, 90, 100, 0)
    rates = meter.update(1.0, 3, 10, 100, 120 * 8)  # 10 + 100 + 10 its in 1 s
    assert rates.steps_per_second == pytest.approx(120)
    assert rates.samples_per_second == pytest.approx(960)


def test_a_position_that_goes_back_restarts_the_window() -> None:
    meter = RateMeter(min_window=0.0)
    meter.update(0.0, 2, 50, 100, 0)
    first = meter.update(1.0, 2, 60, 100, 640)
    assert meter.update(2.0, 1, 10, 100, 700) == first  # an oom restart: kept, re-based
    assert meter.update(3.0, 1, 30, 100, 700 + 20 * 64).steps_per_second == pytest.approx(
        0.3 * 20 + 0.7 * 10
    )


def test_summary_mean_is_over_training_time() -> None:
    assert mean_samples_per_second(1000, 4.0) == 250.0
    assert mean_samples_per_second(1000, 0.0) == 0.0


def test_pauses_and_checkpoint_saves_stop_the_training_clock() -> None:
    link = ControlLink(Control(), SINGLE, torch.device("cpu"), lambda event: None)
    wall, clock = time.monotonic(), link.clock()
    with link.off_the_clock():  # a checkpoint save
        time.sleep(0.2)
        with link.off_the_clock():  # a save during a pause counts once
            time.sleep(0.1)
    wall_spent, clock_spent = time.monotonic() - wall, link.clock() - clock
    assert wall_spent - clock_spent >= 0.3 - 1e-3  # all of it left the training clock
    assert link.paused_total >= 0.3 and link.paused_total <= wall_spent
