"""Is a value read from a run directory what the readers expect? One answer per field.

Every reader used to trust the types it found: `"epoch": "x"`, `epochs: two`, a NaN or `1e400`
where an integer or a time belongs ended in a traceback far from the file. These checks run as a
record, config or summary is read; a record that fails one is a damaged line (skipped by a
tolerant read, an error naming its line by a strict one).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

INT_FIELDS = {
    "step": ("epoch", "epochs", "step", "steps", "global_step"),
    "epoch": ("epoch",),
    "started": (),
    "checkpoint": ("epoch", "global_step"),
    "steer": ("epoch", "global_step"),
    "paused": ("epoch", "step"),
    "resumed": ("epoch", "step"),
}
"""Keys that must be integers when a record of that kind has them (required where `REQUIRED`)."""

REQUIRED = {"epoch": ("epoch",), "step": ("epoch", "step", "global_step")}
"""Keys a record of that kind cannot be read without."""

OPTIONAL_INTS = ("epochs", "start_epoch", "best_epoch", "steps_per_epoch", "world_size", "pid")
"""Integer keys any record may carry (or leave null)."""


def is_int(value: object) -> bool:
    """An integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or float (not a bool), NaN and infinities included."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value: object) -> TypeGuard[int | float]:
    """A finite number (not a bool)."""
    return is_number(value) and math.isfinite(value)


def record_problem(record: dict[str, Any]) -> str | None:
    """Why `record` (one metrics.jsonl object) cannot be used, or None when it can."""
    kind = record.get("event")
    if not isinstance(kind, str):
        return "not an event object with an 'event' key"
    if "time" in record and not finite(record["time"]):
        return f"'time' is {record['time']!r}, expected a finite number of seconds"
    for key in REQUIRED.get(kind, ()):
        if key not in record:
            return f"a {kind} record without '{key}'"
    for key in (*INT_FIELDS.get(kind, ()), *OPTIONAL_INTS):
        value = record.get(key)
        if value is not None and not is_int(value):
            return f"'{key}' is {value!r}, expected an integer"
    if kind == "epoch":
        for key, value in record.items():
            if key in ("event", "is_best", "best_metric"):
                continue
            if value is not None and not is_number(value):
                return f"'{key}' is {value!r}, expected a number"
        if record.get("best_metric") is not None and not isinstance(record["best_metric"], str):
            return f"'best_metric' is {record['best_metric']!r}, expected a name"
    return None


def config_problem(config: Any) -> str | None:
    """Why a run's config.yaml content cannot be used, or None."""
    if not isinstance(config, dict):
        return f"expected a mapping of config keys, got {type(config).__name__}"
    epochs = config.get("epochs")
    if epochs is not None and not is_int(epochs):
        return f"epochs: {epochs!r} is not an integer"
    for section in ("checkpoint", "data", "model", "optim"):
        value = config.get(section)
        if value is not None and not isinstance(value, dict):
            return f"{section}: expected a mapping, got {type(value).__name__}"
    return None


def summary_problem(summary: Any) -> str | None:
    """Why summary.json's content cannot be used, or None."""
    if not isinstance(summary, dict):
        return f"expected a JSON object, got {type(summary).__name__}"
    if not isinstance(summary.get("status", ""), str):
        return f"status: {summary['status']!r} is not a name"
    best = summary.get("best")
    if best is not None:
        if not isinstance(best, dict):
            return f"best: {best!r} is not an object with metric, value and epoch"
        if best.get("metric") is not None and not isinstance(best["metric"], str):
            return f"best.metric: {best['metric']!r} is not a name"
        if best.get("value") is not None and not is_number(best["value"]):
            return f"best.value: {best['value']!r} is not a number"
        if best.get("epoch") is not None and not is_int(best["epoch"]):
            return f"best.epoch: {best['epoch']!r} is not an integer"
    for key in ("wall_seconds", "wall_seconds_total", "samples_per_second", "train_seconds"):
        value = summary.get(key)
        if value is not None and not is_number(value):
            return f"{key}: {value!r} is not a number"
    for key in ("epochs_completed", "global_step"):
        value = summary.get(key)
        if value is not None and not is_int(value):
            return f"{key}: {value!r} is not an integer"
    final = summary.get("final")
    if final is not None and not isinstance(final, dict):
        return f"final: {final!r} is not an object"
    return None
