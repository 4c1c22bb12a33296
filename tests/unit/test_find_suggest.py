"""The LR finder's reading of a curve, its text chart, and the batch finder's search policies
(pure: fabricated curves and measurements)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from tui_trainer.commands.find import parse_size
from tui_trainer.find.batch_size import Trial, _search, choose_cpu
from tui_trainer.find.chart import render
from tui_trainer.find.lr_range import lr_steps
from tui_trainer.find.suggest import smooth, suggest


def curve(points: int = 100, noise: float = 0.0, seed: int = 0) -> tuple[list[float], list[float]]:
    """A textbook range test: flat at 2.3 up to 1e-3, falling to 0.3 by 1e-1, then diverging."""
    rng = random.Random(seed)
    lrs = lr_steps(1e-7, 10.0, points)
    losses = []
    for lr in lrs:
        x = math.log10(lr)
        base = 2.3 - 2.0 / (1 + math.exp(-3 * (x + 2))) + (max(0.0, x + 1) ** 2) * 3
        losses.append(base + rng.gauss(0, noise))
    return lrs, losses


def test_lr_steps_are_exponential_from_start_to_end():
    lrs = lr_steps(1e-6, 1.0, 7)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1.0)
    assert all(b / a == pytest.approx(10.0) for a, b in itertools.pairwise(lrs))


def test_a_clean_curve_gives_the_valley_on_the_slope_before_the_minimum():
    lrs, losses = curve()
    s = suggest(lrs, losses)
    assert s.method == "valley" and s.warnings == []
    assert 1e-4 < s.lr < s.minimum  # on the way down, below the lowest point
    assert s.steepest is not None and 1e-3 < s.steepest < 1e-1  # the sigmoid's middle: 1e-2
    assert "steepest descent agrees" in s.reason


def test_a_single_spike_does_not_move_the_smoothed_curve():
    values = [1.0] * 21
    values[10] = 50.0
    assert max(smooth(values)) == pytest.approx(1.0)


def test_a_noisy_curve_is_flagged_and_the_lower_reading_is_taken():
    lrs, losses = curve(noise=0.6, seed=3)
    s = suggest(lrs, losses)
    assert any("noisy" in w for w in s.warnings)
    readings = [v for v in (s.steepest, s.valley) if v is not None]
    assert s.lr == min(readings)


def test_a_flat_curve_says_the_loss_hardly_fell():
    lrs = lr_steps(1e-7, 10.0, 50)
    s = suggest(lrs, [2.3 + 0.001 * (i % 3) for i in range(50)])
    assert s.method == "minimum/10" and "hardly fell" in s.warnings[0]
    assert s.lr == pytest.approx(s.minimum / 10)


def test_the_chart_is_log_x_ascii_off_a_terminal_and_marks_the_suggestion():
    lrs, losses = curve()
    s = suggest(lrs, losses)
    lines = render(lrs, losses, s.smoothed, s.lr, width=72)
    assert all(len(line) <= 72 and line.isascii() for line in lines)
    axis = next(line for line in lines if "1e-7" in line)
    assert axis.split() == ["1e-7", "1e-6", "1e-5", "1e-4", "1e-3", "0.01", "0.1", "1", "10"]
    note = next(line for line in lines if "suggested" in line)
    assert f"suggested {s.lr:.3g}" in note
    fancy = render(lrs, losses, s.smoothed, s.lr, width=100, fancy=True)
    assert any("●" in line for line in fancy) and not all(line.isascii() for line in fancy)


def fake_measure(per_sample: int, bound: int, speed: dict[int, float] | None = None):
    seen: list[int] = []

    def measure(batch: int) -> Trial:
        seen.append(batch)
        growth = batch * per_sample
        rate = (speed or {}).get(batch, float(batch))
        fits = growth <= bound
        return Trial(batch, fits, growth, rate, "" if fits else "over the bound")

    return measure, seen


def test_cpu_search_keeps_to_the_bound_and_takes_the_fastest_within_it():
    measure, seen = fake_measure(10_000, 100_000)
    best, trials, why = choose_cpu(measure, 1, 1437)
    assert seen == [1, 2, 4, 8, 16]  # 16 x 10 kB is over the bound: no larger size is tried
    assert best is not None and best.batch == 8 and best.peak_bytes <= 100_000
    assert not trials[-1].fits and why.startswith("batch 16")


def test_cpu_search_halves_when_its_first_size_does_not_fit():
    measure, seen = fake_measure(10_000, 100_000)
    best, trials, why = choose_cpu(measure, 1, 1437, start=32)
    assert seen == [32, 16, 8] and best is not None and best.batch == 8
    assert [t.fits for t in trials] == [False, False, True] and why.startswith("batch 32")


def test_cpu_search_stops_after_two_slower_sizes():
    speeds = {1: 10.0, 2: 30.0, 4: 90.0, 8: 50.0, 16: 40.0, 32: 200.0}
    measure, seen = fake_measure(1, 10**9, speeds)
    best, _, why = choose_cpu(measure, 1, 1000)
    assert seen == [1, 2, 4, 8, 16] and best is not None and best.batch == 4
    assert "slower" in why


def test_cuda_search_doubles_then_bisects_to_the_largest_fitting_batch():
    measure, seen = fake_measure(1_000, 300_000)  # fits up to 300
    good, bad = _search(measure, 32, 1, 4096)
    assert good is not None and bad is not None
    assert 300 - 300 // 16 <= good.batch <= 300 < bad.batch
    assert seen[:5] == [32, 64, 128, 256, 512]
    low, _ = _search(fake_measure(1_000, 10_000)[0], 64, 2, 4096)  # 64 too big: halve
    assert low is not None and low.batch <= 10


@pytest.mark.parametrize(
    ("text", "value"),
    [("512M", 512 * 2**20), ("2G", 2 * 2**30), ("1.5GiB", 3 * 2**29), ("100", 100)],
)
def test_sizes(text, value):
    assert parse_size(text) == value


def test_cpu_choice_is_confirmed_by_a_second_reading_and_noise_is_said():
    from tui_trainer.find.batch_size import _confirm

    # 128's first reading was held up by another process; its second shows its speed
    readings = {64: [15_480.0, 14_000.0], 128: [506.0, 20_000.0]}

    def measure(batch: int) -> Trial:
        return Trial(batch, True, batch, readings[batch].pop(0), "")

    trials = [measure(64), measure(128)]
    best, note = _confirm(trials[0], trials, measure)
    assert best.batch == 128 and best.samples_per_s == 20_000.0
    assert "differed 39.5x" in note and "rough" in note

    steady = {64: [1_000.0, 1_050.0], 128: [900.0, 950.0]}
    trials = [Trial(b, True, b, steady[b].pop(0), "") for b in (64, 128)]
    best, note = _confirm(trials[0], trials, lambda b: Trial(b, True, b, steady[b].pop(0), ""))
    assert best.batch == 64 and note == ""
