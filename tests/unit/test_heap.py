"""`engine.heap`: the collector skips a run's set-up objects while it trains, is off during a
headless start-up, and is always left as it was found."""

from __future__ import annotations

import gc

import pytest

from tui_trainer.engine import heap


@pytest.fixture(autouse=True)
def collector_on():
    """Each test starts and ends with the collector on and nothing frozen."""
    if not gc.isenabled() or gc.get_freeze_count():
        pytest.skip("another test left a run training in the background")
    yield
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_training_runs_with_the_set_up_objects_frozen_and_hands_them_back() -> None:
    alive = [object() for _ in range(10)]
    with heap.set_up_objects_frozen():
        assert gc.get_freeze_count() >= len(alive)
        assert gc.isenabled()
        gc.collect()  # full collections still run, over what came after
    assert gc.get_freeze_count() == 0


def test_two_runs_at_once_unfreeze_when_the_last_one_ends() -> None:
    with heap.set_up_objects_frozen():
        frozen = gc.get_freeze_count()
        with heap.set_up_objects_frozen():
            pass
        # the first run still trains: still frozen (less what reference counting freed)
        assert gc.get_freeze_count() > frozen // 2
    assert gc.get_freeze_count() == 0


def test_a_start_up_pauses_the_collector_until_training_starts() -> None:
    with heap.collector_paused_until_training():
        assert not gc.isenabled()
        with heap.set_up_objects_frozen():
            assert gc.isenabled() and gc.get_freeze_count() > 0
        assert gc.isenabled()  # stays on after the run


def test_a_start_up_that_fails_before_training_turns_the_collector_back_on() -> None:
    with pytest.raises(ValueError), heap.collector_paused_until_training():
        assert not gc.isenabled()
        raise ValueError("bad config")
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        with heap.collector_paused_until_training():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
