"""The LR range test: train a copy of the run's model for a bounded number of optimizer steps
while the LR grows exponentially from `start` to `end`, recording the loss at each.

It runs on deep copies of the model, optimizer and GradScaler (`TrainParts.copy`) and puts the
process's random generators back afterwards, so the run that follows starts exactly as it would
have without it. It stops early when the loss diverges (its running average passes `DIVERGE`x its
lowest) or stops being finite. Under torchrun each rank trains its shard (DDP averages the
gradients) and the recorded loss is the ranks' mean; rank 0 decides (`find_lr`) and every rank
gets its suggestion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass

from tui_trainer.engine.freeze import frozen_batchnorm_modules
from tui_trainer.engine.stateful import RngState
from tui_trainer.find.parts import Batch, TrainingCopy, TrainParts
from tui_trainer.find.suggest import Suggestion, suggest

DIVERGE = 4.0
"""The test stops once the loss's running average passes this multiple of its lowest."""

BETA = 0.9
"""The running average the divergence check reads (bias-corrected; not the suggestion's)."""


class FinderFailed(Exception):
    """The finder could not measure (out of memory, no finite loss): exit 1."""


@dataclass(frozen=True)
class RangeCurve:
    """What the test measured: one (lr, loss) per optimizer step, and why it ended early."""

    lrs: list[float]
    losses: list[float]  # finite
    start: float
    end: float
    steps: int  # planned
    stopped: str  # "" when every planned step ran


@dataclass(frozen=True)
class LRFinding:
    """A range test and the suggestion read from it."""

    curve: RangeCurve
    suggestion: Suggestion

    def as_json(self) -> dict[str, object]:
        """Plain values for `--json` (and the broadcast to the other ranks)."""
        s = asdict(self.suggestion)
        return {
            "suggested_lr": self.suggestion.lr,
            "method": s.pop("method"),
            "reason": s.pop("reason"),
            "steepest_lr": s.pop("steepest"),
            "valley_lr": s.pop("valley"),
            "min_loss_lr": s.pop("minimum"),
            "warnings": s.pop("warnings"),
            "noise": None if math.isinf(s["noise"]) else round(s["noise"], 4),
            "start": self.curve.start,
            "end": self.curve.end,
            "steps": self.curve.steps,
            "stopped": self.curve.stopped or None,
            "lrs": self.curve.lrs,
            "losses": self.curve.losses,
            "smoothed": s.pop("smoothed"),
        }


def lr_steps(start: float, end: float, steps: int) -> list[float]:
    """`steps` LRs growing exponentially from `start` to `end` (both included)."""
    if steps < 2:
        return [start]
    return [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]


Progress = Callable[[int, float, float], None]
"""(step, lr, loss) after each optimizer step."""


def range_test(
    parts: TrainParts,
    *,
    steps: int = 100,
    start: float = 1e-7,
    end: float = 10.0,
    on_step: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> RangeCurve:
    """Run the range test on copies of `parts`' model and optimizer (see the module docstring).

    Raises FinderFailed when out of memory or when not even three losses were finite.
    """
    rng = RngState()
    saved = rng.state_dict()
    try:
        return _range_test(parts, lr_steps(start, end, steps), on_step, cancelled, start, end)
    finally:
        rng.load_state_dict(saved)


def _range_test(
    parts: TrainParts,
    plan: list[float],
    on_step: Progress | None,
    cancelled: Callable[[], bool],
    start: float,
    end: float,
) -> RangeCurve:
    copy = parts.copy()
    copy.stepper.net.train()
    for module in frozen_batchnorm_modules(copy.model):  # as the run's `train_mode`
        module.eval()
    config = parts.config
    batches = parts.batches(config.data.batch_size)
    try:
        return _train_curve(parts, copy, batches, plan, on_step, cancelled, start, end)
    finally:
        batches.close()  # the loader's iteration (and any workers) ends here


def _train_curve(
    parts: TrainParts,
    copy: TrainingCopy,
    batches: Generator[Batch, None, None],
    plan: list[float],
    on_step: Progress | None,
    cancelled: Callable[[], bool],
    start: float,
    end: float,
) -> RangeCurve:
    stepper, dist, device, config = copy.stepper, parts.dist, parts.device, parts.config
    lrs: list[float] = []
    losses: list[float] = []
    stopped, average, lowest = "", 0.0, math.inf
    for i, lr in enumerate(plan):
        if cancelled():
            stopped = f"cancelled after {i} steps"
            break
        for group in stepper.optimizer.param_groups:
            group["lr"] = lr
        window = [next(batches) for _ in range(config.accumulate)]
        total = sum(n for *_, n in window)
        value = 0.0
        for k, (x, targets, _labels, n) in enumerate(window):
            defer = dist.enabled and k < len(window) - 1
            result = stepper.backward(x, targets, n / total, defer_sync=defer)
            if result is None:
                stepper.discard(free_cache=True)
                raise FinderFailed(
                    f"out of memory at data.batch_size {config.data.batch_size}: lower it "
                    "(tui-trainer find-batch measures what fits)"
                )
            value += float(result[0].detach()) * n / total
        stepper.step()
        if dist.enabled:  # every rank records the same curve: the ranks' mean loss
            value = dist.sum_floats([value], device)[0] / dist.world_size
        if not math.isfinite(value):
            stopped = f"stopped at step {i + 1} (lr {lr:.3g}): the loss is not finite"
            break
        lrs.append(lr)
        losses.append(value)
        if on_step is not None:
            on_step(i + 1, lr, value)
        average = BETA * average + (1 - BETA) * value
        running = average / (1 - BETA ** (i + 1))
        lowest = min(lowest, running)
        if running > DIVERGE * lowest:
            stopped = (
                f"stopped at step {i + 1} (lr {lr:.3g}): the loss diverged "
                f"({running:.4g} > {DIVERGE:g}x its lowest {lowest:.4g})"
            )
            break
    stepper.discard()
    if len(losses) < 3:
        why = stopped or "too few steps"
        raise FinderFailed(f"fewer than 3 finite losses to read ({why}): lower --start")
    return RangeCurve(lrs, losses, start, end, len(plan), stopped)


def find_lr(
    parts: TrainParts,
    *,
    steps: int = 100,
    start: float = 1e-7,
    end: float = 10.0,
    on_step: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> LRFinding:
    """The range test and its suggestion; under torchrun rank 0 decides and every rank gets
    rank 0's finding (a failure on rank 0 is a FinderFailed on every rank)."""
    outcome: tuple[str, object]
    try:
        curve = range_test(
            parts, steps=steps, start=start, end=end, on_step=on_step, cancelled=cancelled
        )
        outcome = ("ok", LRFinding(curve, suggest(curve.lrs, curve.losses)))
    except FinderFailed as exc:
        outcome = ("failed", str(exc))
    if parts.dist.enabled:
        outcome = parts.dist.broadcast_object(outcome if parts.dist.is_main else None)
    kind, value = outcome
    if kind != "ok":
        raise FinderFailed(str(value))
    assert isinstance(value, LRFinding)
    return value
