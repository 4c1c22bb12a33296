"""Small, pure formatters for numbers, durations and rates shown in the console."""

from __future__ import annotations

import math


def duration(seconds: float | None) -> str:
    """tqdm-style clock: ``MM:SS`` below an hour, ``H:MM:SS`` above; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def rate(per_second: float | None, unit: str = "it") -> str:
    """tqdm-style rate: ``12.3it/s``, or ``2.50s/it`` when slower than one per second."""
    if per_second is None or not math.isfinite(per_second) or per_second <= 0:
        return f"?{unit}/s"
    if per_second < 1:
        return f"{1 / per_second:.2f}s/{unit}"
    return f"{per_second:.1f}{unit}/s" if per_second < 100 else f"{per_second:,.0f}{unit}/s"


def count(value: float | None) -> str:
    """A compact count: ``950``, ``12.3k``, ``4.56M``."""
    if value is None or not math.isfinite(value):
        return "?"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def lr(value: float | None) -> str:
    """A learning rate: scientific notation, three significant digits."""
    if value is None:
        return "-"
    return f"{value:.2e}"


def loss(value: float | None) -> str:
    """A loss value with four decimals (or ``nan``/``inf`` as they are)."""
    if value is None:
        return "-"
    return f"{value:.4f}"


def metric(name: str, value: float | None) -> str:
    """A task metric: accuracies as percentages, everything else with four decimals."""
    if value is None:
        return "-"
    if "acc" in name and 0.0 <= value <= 1.0:
        return f"{value * 100:.2f}%"
    return f"{value:.4f}"


def metric_label(name: str) -> str:
    """A short column label for a metric key: ``val_accuracy`` → ``val acc``."""
    short = {"accuracy": "acc", "learning_rate": "lr"}
    parts = [short.get(p, p) for p in name.split("_")]
    return " ".join(parts)


def plain_value(value: object) -> str:
    """A config value as a user would type it in an override (``None`` → empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, (list, tuple)):
        return ",".join(plain_value(v) for v in value)
    return str(value)
