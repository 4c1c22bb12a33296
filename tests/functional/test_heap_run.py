"""`engine.heap` around a whole headless run (tests/unit/test_heap.py has the rest): a tiny
`tui-trainer run` pauses the collector for its start-up and leaves it on, nothing frozen."""

from __future__ import annotations

import contextlib
import gc

import pytest
from support.runs import TINY

from tui_trainer.cli import main
from tui_trainer.engine import heap


@pytest.fixture(autouse=True)
def collector_on():
    """The test starts and ends with the collector on and nothing frozen."""
    if not gc.isenabled() or gc.get_freeze_count():
        pytest.skip("another test left a run training in the background")
    yield
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_headless_run_and_a_refused_one_leave_the_collector_on(tmp_path, monkeypatch) -> None:
    """`tui-trainer run` pauses the collector for its start-up and training turns it back on
    with the set-up frozen; whatever happens, the process (here: the test's) gets it back on
    with nothing frozen."""
    states: list[tuple[bool, bool, int]] = []  # (on at training start, on inside, frozen)
    real = heap.set_up_objects_frozen

    @contextlib.contextmanager
    def spy():  # type: ignore[no-untyped-def]
        before = gc.isenabled()
        with real():
            states.append((before, gc.isenabled(), gc.get_freeze_count()))
            yield

    monkeypatch.setattr(heap, "set_up_objects_frozen", spy)
    out = str(tmp_path / "runs")
    assert main(["run", "quickstart", *TINY, "--out", out]) == 0
    assert len(states) == 1
    on_at_start, on_inside, frozen = states[0]
    assert not on_at_start and on_inside and frozen > 1000
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert main(["run", "quickstart", "epochs=zero", "--out", out]) == 2
