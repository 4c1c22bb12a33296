"""Learning-rate schedules as a function of fractional epoch progress, plus linear warm-up.

The schedule is evaluated before every optimizer step (not every micro-batch), from
`epoch + step_in_epoch / steps_in_epoch`, so it stays correct when the frozen phase uses a
different batch size (and so a different number of steps per epoch). At whole epochs the values
equal PyTorch's StepLR, MultiStepLR, CosineAnnealingLR and ReduceLROnPlateau stepped per epoch;
OneCycle follows OneCycleLR's cosine annealing.

Steering changes the schedule from a point on (`scale_from`, `set_epochs`): each change is kept
as `(kind, progress, value, previous epochs)` and `lr_at` evaluates the configured curve
through them in order, so the LR stays a pure function of progress (and of the changes, which
checkpoints keep): a replayed or resumed run computes the very same floats.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from tui_trainer.config.schema import SchedulerConfig

PLAN_POINTS = 300
"""Samples in a planned LR curve (`LRSchedule.plan`): enough for a wide terminal plot."""


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


class LRSchedule:
    """Computes the LR to apply at a given progress; holds plateau state for checkpoints."""

    def __init__(self, cfg: SchedulerConfig, base_lr: float, epochs: int) -> None:
        self.cfg = cfg
        self.base_lr = base_lr
        self.epochs = epochs  # the run's length now (steering may change it)
        self.base_epochs = epochs  # the length the configured curve is laid out on
        self.changes: list[tuple[str, float, float, float]] = []
        self.plateau_scale = 1.0
        self.plateau_best: float | None = None
        self.plateau_bad = 0
        self._plan: tuple[tuple[Any, ...], list[tuple[float, float]]] | None = None

    def lr_at(self, progress: float) -> float:
        """The learning rate at `progress` epochs into the run (0 ≤ progress ≤ epochs)."""
        return self._through(progress, len(self.changes))

    def _through(self, t: float, n: int) -> float:
        """The LR at `t` with the first `n` steering changes applied.

        Change k applies from its `t0` on to the curve the first k-1 changes made: a length
        change re-maps `t`, a scale multiplies. Walked from the newest change to the oldest
        (a loop, not recursion: a long-steered run has many changes), then the factors are
        multiplied in the order the changes were made.
        """
        factors: list[float] = []
        for kind, t0, value, before in reversed(self.changes[:n]):
            if t < t0:
                continue
            if kind == "scale":
                factors.append(value)
            elif value <= t0 or before <= t0:  # "epochs": the remainder after t0, laid out on
                t = before  # `before` epochs, stretched to `value`
            else:
                t = t0 + (t - t0) * (before - t0) / (value - t0)
        lr = self._configured(t)
        for factor in reversed(factors):
            lr = lr * factor
        return lr

    def copy(self) -> LRSchedule:
        """An independent copy (steering tries a change on one before committing it)."""
        other = copy.copy(self)
        other.changes = list(self.changes)
        return other

    @property
    def total_dependent(self) -> bool:
        """Whether the curve's shape depends on the run's length (cosine, onecycle)."""
        return self.cfg.name in ("cosine", "onecycle")

    def scale_from(self, progress: float, factor: float) -> None:
        """From `progress` on, the schedule is multiplied by `factor` (> 0).

        Right after another scale change (nothing in between, at or before `progress`) the two
        become one, at `progress` with their product: the curve from `progress` on is the same
        (up to rounding), the list stays short however often the LR is steered, and only the
        past before `progress`, which no step uses again, is drawn differently.
        """
        progress, factor = float(progress), float(factor)
        if self.changes and self.changes[-1][0] == "scale" and self.changes[-1][1] <= progress:
            _, _, previous, epochs = self.changes.pop()
            self.changes.append(("scale", progress, previous * factor, epochs))
            return
        self.changes.append(("scale", progress, factor, float(self.epochs)))

    def set_epochs(self, progress: float, epochs: int) -> None:
        """The run now has `epochs` epochs; a length-dependent curve re-plans its remainder
        from `progress` (after the warm-up), so the LR stays continuous there."""
        if self.total_dependent and epochs != self.epochs:
            pivot = max(float(progress), self.cfg.warmup_epochs)
            self.changes.append(("epochs", pivot, float(epochs), float(self.epochs)))
        self.epochs = int(epochs)

    def _configured(self, progress: float) -> float:
        """The configured curve (no steering), laid out on `base_epochs`."""
        cfg = self.cfg
        if cfg.name == "onecycle":
            peak = cfg.max_lr or self.base_lr
            start, end = peak / cfg.div_factor, peak / cfg.div_factor / cfg.final_div_factor
            t = min(max(progress / self.base_epochs, 0.0), 1.0)
            if t <= cfg.pct_start:
                return _cos(start, peak, t / cfg.pct_start)
            return _cos(peak, end, (t - cfg.pct_start) / (1 - cfg.pct_start))
        warm = cfg.warmup_epochs
        if warm > 0 and progress < warm:
            frac = progress / warm
            factor = cfg.warmup_start_factor + (1 - cfg.warmup_start_factor) * frac
            return self.base_lr * factor
        after = progress - warm
        if cfg.name == "step":
            return self.base_lr * cfg.gamma ** math.floor(after / cfg.step_size + 1e-9)
        if cfg.name == "multistep":
            passed = sum(1 for m in cfg.milestones if after + 1e-9 >= m)
            return self.base_lr * cfg.gamma**passed
        if cfg.name == "cosine":
            span = max(self.base_epochs - warm, 1e-9)
            return _cos(self.base_lr, cfg.min_lr, min(after / span, 1.0))
        if cfg.name == "plateau":
            return self.base_lr * self.plateau_scale
        return self.base_lr

    def plan(self, points: int = PLAN_POINTS) -> list[tuple[float, float]]:
        """The LR over the whole run as `(epoch progress, lr)` pairs, `points` evenly spaced.

        This is what the schedule will apply if nothing changes it (a plateau cut, steering): the
        front ends draw its remainder ahead of the LR measured so far. Computed once per state
        of the schedule (steering checks read it at every request).
        """
        n = max(points, 2)
        key = (n, self.epochs, self.base_epochs, self.plateau_scale, tuple(self.changes))
        cached = self._plan
        if cached is not None and cached[0] == key:
            return list(cached[1])
        plan = [
            (round(self.epochs * i / (n - 1), 6), self.lr_at(self.epochs * i / (n - 1)))
            for i in range(n)
        ]
        self._plan = (key, plan)
        return list(plan)

    def epoch_end(self, val_loss: float) -> bool:
        """Feed the epoch's validation loss (plateau only); True when the LR was just reduced."""
        if self.cfg.name != "plateau" or not math.isfinite(val_loss):
            return False
        if self.plateau_best is None or val_loss < self.plateau_best * (1 - self.cfg.threshold):
            self.plateau_best = val_loss
            self.plateau_bad = 0
            return False
        self.plateau_bad += 1
        if self.plateau_bad > self.cfg.patience:
            self.plateau_scale *= self.cfg.factor
            self.plateau_bad = 0
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        """Plateau state and steering changes (the rest is a pure function of progress)."""
        return {
            "plateau_scale": self.plateau_scale,
            "plateau_best": self.plateau_best,
            "plateau_bad": self.plateau_bad,
            "epochs": self.epochs,
            "base_epochs": self.base_epochs,
            "changes": [list(c) for c in self.changes],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved.

        A resume whose config gives another `epochs` than the checkpoint's (an override) keeps
        that length: the steered LR changes are kept, a steered length is not.
        """
        self.plateau_scale = float(state["plateau_scale"])
        self.plateau_best = state["plateau_best"]
        self.plateau_bad = int(state["plateau_bad"])
        changes = [
            (str(k), float(t0), float(v), float(b)) for k, t0, v, b in state.get("changes", [])
        ]
        saved_base = int(state.get("base_epochs", self.epochs))
        if saved_base == self.epochs:
            self.changes, self.epochs = changes, int(state.get("epochs", self.epochs))
        else:
            self.changes = [c for c in changes if c[0] == "scale"]
