"""Early stopping: end the run when the monitored metric stops improving.

The verdict is a pure function of the epoch history that checkpoints already hold, so a resumed
run (or one whose epoch count was steered) decides exactly as an uninterrupted one would.
An epoch improves when it beats the best value so far by more than `min_delta` (Keras'
convention: the best value only moves on such an improvement).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tui_trainer.config.schema import EarlyStopConfig


@dataclass(frozen=True)
class EarlyStop:
    """Why the run stops: the metric, its best value and epoch, and how long it has waited."""

    metric: str
    best: float
    best_epoch: int
    waited: int
    min_delta: float

    def message(self, epoch: int, epochs: int) -> str:
        """The log line."""
        by = f" by more than {self.min_delta:g}" if self.min_delta else ""
        return (
            f"early stop: {self.metric} has not improved{by} for {self.waited} epoch(s) "
            f"(best {self.best:.4f} at epoch {self.best_epoch}); stopping after epoch {epoch} "
            f"of {epochs}"
        )


def early_stop(
    history: list[dict[str, float]], metric: str, mode: str, config: EarlyStopConfig
) -> EarlyStop | None:
    """The reason to stop after the last epoch of `history`, or None to go on.

    Epochs without a finite value of `metric` count as not improving.
    """
    if config.patience is None:
        return None
    best: float | None = None
    best_epoch = 0
    waited = 0
    for i, line in enumerate(history):
        value = line.get(metric)
        if (value is not None and math.isfinite(value)) and (
            best is None
            or (mode == "max" and value > best + config.min_delta)
            or (mode == "min" and value < best - config.min_delta)
        ):
            best, best_epoch, waited = value, int(line.get("epoch", i + 1)), 0
        else:
            waited += 1
    if best is None or waited < config.patience:
        return None
    return EarlyStop(metric, best, best_epoch, waited, config.min_delta)
