"""The loop's pure policies: accumulation windows, position conversion, batch reduction, exit
codes, shared formatting, the task registry."""

from __future__ import annotations

import pytest

from tui_trainer import formatting as fmt
from tui_trainer.config import load_config
from tui_trainer.config.tasks import effective_batch, model_kind, task_mismatch
from tui_trainer.engine.checkpoint import convert_position
from tui_trainer.engine.faults import reduced_config
from tui_trainer.engine.window import steps_in_epoch, window_of
from tui_trainer.errors import UserError
from tui_trainer.outcome import exit_code


def test_windows_cover_the_epoch_and_the_short_last_one_steps_too():
    sizes = [16, 16, 16, 16, 16, 10]  # 6 micro-batches, accumulate 4: windows [0,4) and [4,6)
    windows = [window_of(i, sizes, 4) for i in range(6)]
    assert [(w.index, w.start, w.end, w.samples) for w in windows[:4]] == [(0, 0, 4, 64)] * 4
    assert (windows[5].start, windows[5].end, windows[5].samples) == (4, 6, 26)
    assert [i for i, w in enumerate(windows) if w.is_last(i)] == [3, 5]
    assert steps_in_epoch(6, 4) == 2 and steps_in_epoch(8, 4) == 2


@pytest.mark.parametrize(
    ("batch", "saved", "now", "expected"),
    [
        (10, (1, 32), (1, 32), (10, 0)),  # same shape: unchanged
        (10, (2, 32), (1, 64), (10, 0)),  # 640 samples either way
        (10, (1, 32), (1, 64), (5, 0)),
        (3, (1, 32), (1, 64), (1, 32)),  # 96 samples: one batch of 64, 32 run again
        (0, (2, 32), (1, 48), (0, 0)),  # an epoch boundary needs no conversion
    ],
)
def test_a_mid_epoch_position_is_kept_in_samples(batch, saved, now, expected):
    assert convert_position(batch, saved, now) == expected


def test_reduce_halves_batches_doubles_accumulation_and_keeps_the_position():
    config, _ = load_config(
        "quickstart",
        ["data.batch_size=32", "accumulate=3", "freeze.enabled=true", "freeze.batch_size=16"],
    )
    r = reduced_config(config, 32, batch=5)  # 160 samples done
    assert (r.config.data.batch_size, r.config.freeze.batch_size, r.config.accumulate) == (
        16,
        8,
        6,
    )
    assert effective_batch(16, 6) == effective_batch(32, 3)
    assert (r.batch, r.repeated) == (10, 0)
    assert r.note in r.config.notes and "batch halved to 16" in r.note
    assert reduced_config(config, 7, batch=1).repeated == 1  # 7 samples → 2 batches of 3, +1


@pytest.mark.parametrize(
    ("status", "signal", "code"),
    [
        ("completed", None, 0),
        ("stopped", None, 0),
        ("interrupted", None, 0),
        ("interrupted", 15, 143),
        ("interrupted", 2, 130),
        ("failed", None, 1),
        ("failed", 15, 1),  # a failure is a failure, signal or not
        (None, 1, 129),  # the console hung up with no run going
        (None, None, 0),
    ],
)
def test_one_exit_code_rule_for_both_front_ends(status, signal, code):
    assert exit_code(status, signal) == code


def test_console_and_tui_durations():
    assert fmt.duration(65.4) == "01:05" and fmt.duration(3725) == "1:02:05"
    assert fmt.duration(65.6, compact=True) == "1:06" and fmt.duration(-3, compact=True) == "0:00"
    assert fmt.duration(None) == "?"
    # Half of a 4-epoch run done in 10 s: 10 s to go; epochs before a resume do not count.
    assert fmt.run_eta(3, 0, 10, 4, 0, 10.0) == pytest.approx(10.0)
    assert fmt.run_eta(3, 5, 10, 4, 2, 5.0) == pytest.approx(15.0)  # 0.5 of 2 epochs in 5 s


def test_the_task_registry_decides_model_kinds_and_mismatches():
    assert [model_kind(n) for n in ("small_cnn", "pkg:Net", "unet", "resnet18")] == [
        "small_cnn",
        "user",
        "segmentation",
        "torchvision",
    ]
    assert task_mismatch("classification", "digits", "resnet18", "cross_entropy") is None
    assert task_mismatch("segmentation", "shapes", "pkg:Net", "dice") is None
    assert task_mismatch("classification", "digits", "unet", "cross_entropy")[0] == "model.name"
    assert task_mismatch("segmentation", "digits", "unet", "dice")[0] == "data.name"


def test_user_error_fields_make_the_one_line_message():
    with pytest.raises(UserError) as info:
        load_config("quickstart", ["freeze.enabled=true", "freeze.epochs=99", "epochs=3"])
    err = info.value
    assert (err.key, err.location) == ("freeze.epochs", "override 'freeze.epochs=99'")
    assert str(err) == f"{err.location}: {err.key}: {err.text}"
    assert err.text == "must not exceed epochs (3), got 99"
    assert str(UserError("plain line")) == "plain line"
