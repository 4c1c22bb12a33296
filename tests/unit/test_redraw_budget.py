"""`RedrawBudget` spaces redraws by their measured CPU cost, never closer than its floor."""

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
    clock = budget.started()
    budget.spent(clock)  # almost free
    assert budget.gap == 0.1
    assert 0.0 < budget.wait() <= 0.1


def test_a_costly_redraw_pushes_the_next_one_back_by_cost_over_share() -> None:
    budget = RedrawBudget(floor=0.01, share=0.1)
    clock = budget.started()
    busy(0.05)
    budget.spent(clock)
    assert 0.5 <= budget.gap < 1.0  # 0.05 s of CPU at 10% of a core: at least 0.5 s apart
    assert budget.wait(now=budget.last + budget.gap) == 0.0
    clock = budget.started()  # the next one is cheap again: back to the floor
    budget.spent(clock)
    assert budget.gap == 0.01


def test_sleeping_is_not_cost() -> None:
    """Only the UI thread's CPU counts: waiting on the terminal or a lock costs nothing."""
    budget = RedrawBudget(floor=0.05, share=0.01)
    clock = budget.started()
    time.sleep(0.05)
    budget.spent(clock)
    assert budget.gap < 0.5
