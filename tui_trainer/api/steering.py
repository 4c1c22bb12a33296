"""Live steering of a script run: `lr=...` on the tracked optimizer, `epochs=N` on `run.epochs`.

`check` answers a `ctl` request at once (refused with a one-line reason, `Unchanged`, or None:
queued); `apply` runs on the training thread at the next step boundary (`ControlLink.poll`) and
returns the `Steered` records. An absolute `lr=V` scales every param group by V / the first
group's LR, so groups with their own LR keep their ratios; `lr=*F` multiplies each group. A
scheduler of the user's that sets the LR itself every step overrides the change at its next
step (it owns the LR then).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tui_trainer.config.steering import Change, parse_change
from tui_trainer.runlog.control import Unchanged
from tui_trainer.runlog.events import Steered

UNSUPPORTED = "a script run takes lr=VALUE, lr=*FACTOR and epochs=N (with run.epochs) only"


class ScriptSteering:
    """What steering can change in a script run, and the changes it made."""

    def __init__(self, where: Callable[[], tuple[int, int]]) -> None:
        self.optimizer: Any = None
        self.epochs: int | None = None  # run.epochs(n)'s count, None outside it
        self.epoch = 0  # 0-based epoch in progress
        self._where = where  # (global_step, epoch 1-based)

    def lr(self) -> float | None:
        """The tracked optimizer's first group's LR (None without one)."""
        if self.optimizer is None or not self.optimizer.param_groups:
            return None
        value = self.optimizer.param_groups[0].get("lr")
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    def check(self, change: Change) -> str | None:
        """None when `change` can apply, an `Unchanged`, or why it is refused (one line)."""
        if change.kind == "lr":
            old = self.lr()
            if old is None:
                return "no optimizer is tracked: call run.track_optimizer(optimizer)"
            new = old * float(change.value or 0) if change.relative else float(change.value or 0)
            if not math.isfinite(new) or new > 3.4e38:
                return f"lr {new:.3g} is beyond float32"
            if new == old:
                return Unchanged(f"lr is {old:.4g} already")
            return None
        if change.kind == "epochs":
            if self.epochs is None:
                return "the script does not loop over run.epochs(n), so its length is its own"
            value = int(change.value or 0)
            if value == self.epochs:
                return Unchanged(f"epochs is {value} already")
            if value < self.epoch + 1:
                return f"epochs={value} is below the epoch in progress ({self.epoch + 1})"
            return None
        return f"{change.text}: {UNSUPPORTED}"

    def apply(self, texts: list[str], source: str = "live") -> list[Steered]:
        """Apply queued changes (checked again: the state may have moved) and say what changed."""
        done: list[Steered] = []
        for text in texts:
            change = parse_change(text)
            if self.check(change) is not None:
                continue
            step, epoch = self._where()
            if change.kind == "lr":
                old: Any = self.lr() or 0.0
                factor = float(change.value or 0) if change.relative else None
                for group in self.optimizer.param_groups:
                    if factor is not None:
                        group["lr"] = group["lr"] * factor
                    elif old > 0:
                        group["lr"] = group["lr"] * (float(change.value or 0) / old)
                    else:
                        group["lr"] = float(change.value or 0)
                new: Any = self.lr()
            else:
                old, new = self.epochs, int(change.value or 0)
                self.epochs = new
            done.append(Steered(step, epoch, change.text, change.kind, old, new, source))
        return done
