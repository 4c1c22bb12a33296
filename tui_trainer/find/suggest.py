"""From a loss-vs-LR curve to a suggested learning rate, with how it was chosen (pure, no torch).

Two readings of the curve, both on a centred (lag-free) moving average of the raw losses:

- steepest descent: where the smoothed loss falls fastest per decade of LR;
- valley: the middle of the slope down into the loss's valley, from where it leaves its starting
  level to its lowest point; a short, steep, noisy drop does not move it.

The valley is chosen when the two agree within `AGREE`x; otherwise, and whenever the curve is too
noisy to trust, the lower (safer) of the two. A loss that hardly fell gives the classic
"a tenth of the LR at the minimum", with a warning.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

AGREE = 10.0
"""The two readings agree when they lie within this factor of each other."""

NOISY = 0.25
"""Too noisy: the raw loss strays from the smoothed one by more than this share of the fall."""

LEAST_FALL = 0.05
"""The loss must fall by at least this share of its start for a reading to mean anything."""


@dataclass(frozen=True)
class Suggestion:
    """The suggested LR, the method that gave it and why, the other readings, warnings."""

    lr: float
    method: str  # "valley", "steepest" or "minimum/10"
    reason: str
    steepest: float | None
    valley: float | None
    minimum: float  # the LR at the smoothed loss's lowest point
    smoothed: list[float]
    warnings: list[str] = field(default_factory=list)
    noise: float = 0.0  # the raw loss's spread around the smoothed one, as a share of the fall


def smooth(values: list[float]) -> list[float]:
    """A centred moving median, then a centred moving mean, over windows of a twentieth of the
    points (at least 3, shrinking symmetrically at the ends): no lag (the curve's features
    stay at their LR), and one spike (a bad batch) does not bend it."""
    half = edge(len(values))
    return _centred(_centred(values, half, statistics.median), half, statistics.fmean)


def edge(points: int) -> int:
    """Half the smoothing window: the points at either end that the window cannot centre on."""
    return max(1, points // 40)


def _centred(values: list[float], half: int, reduce: Callable[[list[float]], float]) -> list[float]:
    n = len(values)
    out = []
    for i in range(n):
        k = min(half, i, n - 1 - i)
        out.append(float(reduce(values[i - k : i + k + 1])))
    return out


def steepest_index(lrs: list[float], smoothed: list[float]) -> int | None:
    """The point before the loss's minimum where it falls fastest per decade (None: too few)."""
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    first = edge(len(smoothed))  # the ends are smoothed less: their slopes would mislead
    if low < first + 1:
        return None
    xs = [math.log10(v) for v in lrs]
    slopes = {}
    for i in range(first, low + 1):  # central differences
        a, b = i - 1, min(i + 1, len(xs) - 1)
        slopes[i] = (smoothed[b] - smoothed[a]) / ((xs[b] - xs[a]) or 1e-12)
    return min(slopes, key=slopes.__getitem__)


def valley_index(smoothed: list[float]) -> int | None:
    """The middle of the valley's slope: from the last point still at the starting level (within
    a tenth of the fall) to the lowest point, half way (in log LR). fastai reads the longest
    decreasing run instead, which a long flat, noisy start stretches (None: no fall)."""
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    head = smoothed[: max(1, len(smoothed) // 10)]
    level = statistics.median(head)
    fall = level - smoothed[low]
    if low < 2 or fall <= 0:
        return None
    begin = max((i for i in range(low) if smoothed[i] >= level - fall / 10), default=0)
    return (begin + low) // 2


def suggest(lrs: list[float], losses: list[float]) -> Suggestion:
    """The suggestion for a curve of finite losses (at least 3 points), LRs increasing."""
    if len(lrs) < 3 or len(lrs) != len(losses):
        raise ValueError("a suggestion needs at least 3 (lr, loss) points")
    smoothed = smooth(losses)
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    minimum = lrs[low]
    level = statistics.median(smoothed[: max(1, len(smoothed) // 10)])  # where it starts
    fall = level - smoothed[low]
    spread = _spread(losses[: low + 1], smoothed[: low + 1])
    noise = spread / fall if fall > 0 else math.inf
    warnings: list[str] = []
    steep = steepest_index(lrs, smoothed)
    valley = valley_index(smoothed)
    s_lr = lrs[steep] if steep is not None else None
    v_lr = lrs[valley] if valley is not None else None
    if fall <= LEAST_FALL * abs(level) or (s_lr is None and v_lr is None):
        warnings.append(
            f"the loss hardly fell ({_pct(max(fall, 0) / abs(level) if level else 0)} of its "
            "start): no reading to trust; try more --steps or a larger --end"
        )
        return Suggestion(
            minimum / 10,
            "minimum/10",
            f"a tenth of the LR at the loss's lowest point ({minimum:.3g})",
            s_lr,
            v_lr,
            minimum,
            smoothed,
            warnings,
            noise,
        )
    if noise > NOISY:
        warnings.append(
            f"the curve is noisy (the raw loss strays {_pct(noise)} of the fall from the "
            "smoothed one): treat the suggestion as rough; more --steps or a larger "
            "data.batch_size give a smoother curve"
        )
    method, lr, reason = _choose(s_lr, v_lr, noisy=noise > NOISY)
    if s_lr is not None and v_lr is not None and _ratio(s_lr, v_lr) > AGREE:
        warnings.append(
            f"steepest descent ({s_lr:.3g}) and valley ({v_lr:.3g}) disagree by "
            f"{_ratio(s_lr, v_lr):.0f}x"
        )
    return Suggestion(lr, method, reason, s_lr, v_lr, minimum, smoothed, warnings, noise)


def _choose(steep: float | None, valley: float | None, *, noisy: bool) -> tuple[str, float, str]:
    """(method, lr, why) from the two readings (at least one is there)."""
    if valley is None:
        assert steep is not None
        return "steepest", steep, "where the smoothed loss falls fastest (no valley to read)"
    if steep is None:
        return "valley", valley, "half way down the slope (too few points for a steepest descent)"
    if noisy or _ratio(steep, valley) > AGREE:
        method, lr = ("steepest", steep) if steep < valley else ("valley", valley)
        why = "the curve is noisy" if noisy else "the readings disagree"
        return method, lr, f"{why}: the lower, safer of steepest descent and valley"
    return (
        "valley",
        valley,
        f"half way down the slope of the smoothed loss into its lowest point; steepest "
        f"descent agrees within {_ratio(steep, valley):.1f}x",
    )


def _spread(raw: list[float], smoothed: list[float]) -> float:
    """The root mean square of raw - smoothed."""
    return math.sqrt(sum((r - s) ** 2 for r, s in zip(raw, smoothed, strict=True)) / len(raw))


def _ratio(a: float, b: float) -> float:
    return max(a, b) / min(a, b)


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"
