"""`RedrawBudget` spaces redraws by their measured CPU cost (their code and the frames that
paint them), never closer than its floor."""

from __future__ import annotations

import time

from tui_trainer.tui.budget import RedrawBudget


def busy(seconds: float) -> None:
    """Burn this thread's CPU for `seconds` of CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_cheap_redraw_keeps_the_floor() -> None:
    budget = RedrawBudget(floor=0.1, share=0.5)
    budget.started()
    budget.drawn()  # almost free
    budget.painted(0.001)
    assert budget.gap == 0.1
    assert 0.0 < budget.wait() <= 0.1


def test_the_frames_that_paint_a_redraw_are_its_cost() -> None:
    budget = RedrawBudget(floor=0.01, share=0.1)
    budget.started()
    budget.drawn()
    assert budget.gap == 0.01  # nothing painted yet: the gap is the last one
    budget.painted(0.05)
    assert 0.5 <= budget.gap < 0.6  # 0.05 s of CPU at 10% of a core: at least 0.5 s apart
    assert budget.wait(now=budget.last + budget.gap) == 0.0
    budget.painted(10.0)  # a later frame is someone else's
    assert budget.gap < 0.6
    budget.started()  # the next one is cheap again: back to the floor
    budget.drawn()
    budget.painted(0.0)
    assert budget.gap == 0.01


def test_the_code_that_changes_the_widgets_counts_too() -> None:
    budget = RedrawBudget(floor=0.01, share=0.1)
    budget.started()
    busy(0.03)
    budget.drawn()
    budget.painted(0.02)
    assert 0.5 <= budget.gap < 0.7  # 0.03 + 0.02 s at 10%


def test_a_redraw_in_two_frames_is_costed_once_both_are_painted() -> None:
    budget = RedrawBudget(floor=0.01, share=0.1, frames=2)
    budget.started()
    budget.drawn()
    budget.painted(0.03)
    assert budget.gap == 0.01  # the canvases' frame is still to come
    budget.painted(0.02)
    assert 0.5 <= budget.gap < 0.6


def test_a_forgotten_redraw_leaves_the_gap_as_it_was() -> None:
    """A drain that also redrew the charts: the frames are the charts' cost, not the drain's."""
    budget = RedrawBudget(floor=0.01, share=0.1)
    budget.started()
    budget.drawn()
    budget.painted(0.1)
    gap = budget.gap
    budget.started()
    budget.forget()
    budget.painted(5.0)
    assert budget.gap == gap


def test_sleeping_is_not_cost() -> None:
    """Only the UI thread's CPU counts: waiting on the terminal or a lock costs nothing."""
    budget = RedrawBudget(floor=0.05, share=0.01)
    budget.started()
    time.sleep(0.05)
    budget.drawn()
    budget.painted(0.0)
    assert budget.gap < 0.5


def test_a_one_off_costly_frame_never_holds_the_next_redraw_past_the_ceiling() -> None:
    """The first paint of a screen can cost a hundred times a progress frame."""
    budget = RedrawBudget(floor=0.1, share=0.005, ceiling=1.0)
    budget.started()
    budget.drawn()
    budget.painted(0.2)  # 0.2 s at 0.5% of a core would be 40 s
    assert budget.gap == 1.0
