"""Where a run's training time goes: the parts, their shares and the hint when one dominates.

The engine measures seconds per part (`engine.time_split.TimeSplit`) and sends shares of the
training time: `StepProgress.time_parts` per progress window, summary.json's `time_breakdown`
over the run. The keys are `PARTS`; a script run (`tui_trainer.api`) knows only "data" and
"other". Every front end (run screen, summary screen, console sink, `watch`) reads them here.
No torch: plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

PARTS = ("data", "copy", "compute", "optimizer", "other")
"""data: waiting on the loader's next batch; copy: host to device; compute: forward and
backward; optimizer: the optimizer step (clipping, GradScaler, zero_grad); other: the rest of
the loop between steps (metrics, progress, steering, control polling)."""

LABELS = {
    "data": "data wait",
    "copy": "copy to device",
    "compute": "forward+backward",
    "optimizer": "optimizer",
    "other": "other",
}
"""How each part is named in a hint."""

SHORT = {
    "data": "data",
    "copy": "copy",
    "compute": "compute",
    "optimizer": "optim",
    "other": "other",
}
"""How each part is named in a legend (narrow places)."""

DOMINANT = 0.5
"""A part with at least this share of the training time gets a hint."""

ADVICE = {
    "data": "raise data.num_workers or data.cache=ram",
    "copy": "data.pin_memory=true, or larger batches",
    "optimizer": "raise data.batch_size or accumulate (fewer steps)",
    "other": "checkpoint.every_steps, progress.interval",
}
"""What to try when a part dominates (config keys a person can set). Forward+backward has none:
a run whose time goes to the model is healthy (and bf16 or compile advice would be wrong on a
CPU, where bf16 is emulated)."""


def shares(seconds: Mapping[str, float], digits: int | None = None) -> dict[str, float] | None:
    """Each part's share of the total of `seconds` (keys in `PARTS` order; None: no time).

    With `digits`, the shares are rounded and the largest takes the rounding remainder, so
    they still sum to 1.
    """
    clean = {k: float(v) for k, v in seconds.items() if math.isfinite(v) and v > 0}
    total = sum(clean.values())
    if total <= 0:
        return None
    keys = [k for k in PARTS if k in seconds] + [k for k in seconds if k not in PARTS]
    out = {k: clean.get(k, 0.0) / total for k in keys}
    if digits is None:
        return out
    out = {k: round(v, digits) for k, v in out.items()}
    largest = max(out, key=lambda k: out[k])
    out[largest] = round(1.0 - sum(v for k, v in out.items() if k != largest), digits)
    return out


def read_parts(value: Any) -> dict[str, float] | None:
    """Shares read back from JSON (a summary, a record): None unless a mapping of finite,
    non-negative numbers with a positive sum."""
    if not isinstance(value, Mapping):
        return None
    out: dict[str, float] = {}
    for key, share in value.items():
        if isinstance(share, bool) or not isinstance(share, (int, float)):
            return None
        if not math.isfinite(share) or share < 0:
            return None
        out[str(key)] = float(share)
    return out if sum(out.values()) > 0 else None


def dominant(parts: Mapping[str, float] | None) -> tuple[str, float] | None:
    """The part with at least `DOMINANT` of the time, and its share (None: none dominates)."""
    if not parts:
        return None
    name = max(parts, key=lambda k: parts[k])
    share = parts[name]
    return (name, share) if share >= DOMINANT else None


def hint(parts: Mapping[str, float] | None) -> str | None:
    """One plain line when a part dominates, e.g. ``data wait 62%: raise data.num_workers or
    data.cache=ram``; None when no part does."""
    top = dominant(parts)
    if top is None:
        return None
    name, share = top
    if name == "other" and parts is not None and "compute" not in parts:
        return None  # a script run's "other" is all of its own step, not overhead
    if name == "compute":
        return None  # the model's own work dominates: what a healthy run looks like
    advice = ADVICE.get(name)
    label = LABELS.get(name, name)
    return f"{label} {share:.0%}: {advice}" if advice else f"{label} {share:.0%}"


def shown(parts: Mapping[str, float]) -> list[str]:
    """The parts a legend names: those that round to at least 1%, largest first."""
    return sorted((k for k, v in parts.items() if v >= 0.005), key=lambda k: -parts[k])


def legend(parts: Mapping[str, float]) -> str:
    """``data 62% · compute 30% · ...`` (`shown` parts)."""
    return " · ".join(f"{SHORT.get(k, k)} {parts[k]:.0%}" for k in shown(parts))
