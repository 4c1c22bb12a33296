"""The data behind the run screen's plots, from live events or from a run's metrics.jsonl.

Pure Python (no Textual): `Curves.apply` takes engine events as the run screen receives them,
`Curves.from_records` takes the lines of a finished or running run's metrics.jsonl, and both end
in the same series, so the live plots, `watch` and `compare` draw a run the same way.
Every x coordinate is in epochs (fractional inside an epoch), so step and epoch series line up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tui_trainer.config.tasks import TASKS
from tui_trainer.runlog.events import EpochEnd, Event, LRPlan, RunStarted, StepProgress

SMOOTHING_SPAN = 50
"""The smoothed train loss averages over about 1/SMOOTHING_SPAN of the points shown."""

TASK_METRICS = tuple(dict.fromkeys(name for spec in TASKS.values() for name in spec.plot_metrics))
"""Preferred task metrics for the metric plot, in order, when the monitored one is a loss: every
task's plot metrics (`config.tasks.TASKS[task].plot_metrics`)."""

PART_PREFIX = "train_loss_"
"""Epoch lines carry a detector's loss parts as `train_loss_<part>`."""


def epoch_parts(metrics: dict[str, Any]) -> dict[str, Any]:
    """A detector's loss parts in an epoch line (`train_loss_<part>` → `<part>`)."""
    return {k.removeprefix(PART_PREFIX): v for k, v in metrics.items() if k.startswith(PART_PREFIX)}


class XYSeries:
    """A bounded (x, y) series: past `cap` points, neighbours merge so the whole run still fits."""

    def __init__(self, cap: int = 1024) -> None:
        self.cap = cap
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.merges = 0  # how often the points were halved (a plot then redraws them all)

    def append(self, x: float, y: float) -> None:
        """Add a point (non-finite values are skipped: they cannot be drawn)."""
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) > self.cap:
            self.xs = [(a + b) / 2 for a, b in zip(self.xs[::2], self.xs[1::2], strict=False)]
            self.ys = [(a + b) / 2 for a, b in zip(self.ys[::2], self.ys[1::2], strict=False)]
            self.merges += 1

    def __len__(self) -> int:
        return len(self.xs)


def smoothing_weight(points: int) -> float:
    """EMA weight for `points` points: a window of ~points/SMOOTHING_SPAN (none when few)."""
    window = max(1.0, points / SMOOTHING_SPAN)
    return 1.0 - 1.0 / window


def smooth(values: list[float], weight: float) -> list[float]:
    """Debiased exponential moving average (TensorBoard's smoothing): starts at the first value."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return out


def pick_metric(
    metrics: Iterable[str], monitored: str | None, task: str | None = None
) -> str | None:
    """The task metric to plot: the monitored one unless it is a loss, else the task's first plot
    metric present (any task's when the task is not known), else the first validation metric."""
    names = [m for m in metrics if m.startswith("val_") and not m.endswith("loss")]
    if monitored and monitored in names:
        return monitored
    spec = TASKS.get(task or "")
    for name in (*(spec.plot_metrics if spec else ()), *TASK_METRICS):
        if name in names:
            return name
    return names[0] if names else None


def pick_metrics(
    metrics: Iterable[str], monitored: str | None, task: str | None = None
) -> list[str]:
    """The metrics the metric plot draws: `pick_metric`'s first, then the next of the task's plot
    metrics that is present (detection: val_map with val_map50). The task is the run's, or when
    not known the one whose plot metrics hold the first."""
    names = list(metrics)
    first = pick_metric(names, monitored, task)
    if first is None:
        return []
    spec = TASKS.get(task or "") or next(
        (s for s in TASKS.values() if first in s.plot_metrics), None
    )
    others = [m for m in (spec.plot_metrics if spec else ()) if m != first and m in names]
    return [first, *others[:1]]


@dataclass
class Curves:
    """Train loss per step (and a detector's loss parts); validation loss and the task metrics
    per epoch; LR measured and planned."""

    epochs: int = 0  # planned epochs (the x axis' extent)
    train: XYSeries = field(default_factory=XYSeries)
    lr: XYSeries = field(default_factory=XYSeries)
    parts: dict[str, XYSeries] = field(default_factory=dict)  # train loss by part (detectors)
    val_loss: list[tuple[float, float]] = field(default_factory=list)
    metric_names: list[str] = field(default_factory=list)  # plotted, the main one first
    metrics: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    monitored: str | None = None  # the metric that picks the best epoch
    task: str | None = None  # the run's task (which metrics to plot), when known
    best_epoch: int | None = None
    best_value: float | None = None
    plan: list[tuple[float, float]] = field(default_factory=list)
    version: int = 0  # bumped on every change, so widgets redraw only when needed

    # -- live events -----------------------------------------------------------------------------
    def apply(self, event: Event) -> bool:
        """Take one engine event; True when a plot's data changed."""
        if isinstance(event, StepProgress):
            if not event.steps:
                return False
            x = event.epoch - 1 + event.step / event.steps
            self.epochs = max(self.epochs, event.epochs)
            self.train.append(x, event.loss)
            self.lr.append(x, event.lr)
            self._parts(x, event.loss_parts)
        elif isinstance(event, EpochEnd):
            self.epochs = max(self.epochs, event.epochs)
            self.monitored = event.best_metric or self.monitored
            self._epoch(event.epoch, event.metrics, event.is_best)
        elif isinstance(event, LRPlan):
            self.plan = [(float(x), float(y)) for x, y in event.points]
        elif isinstance(event, RunStarted):
            self.epochs = event.epochs
            self.task = event.task or self.task
        else:
            return False
        self.version += 1
        return True

    def _epoch(self, epoch: int, metrics: dict[str, Any], is_best: bool) -> None:
        val = metrics.get("val_loss")
        if isinstance(val, (int, float)) and math.isfinite(val):
            self.val_loss.append((float(epoch), float(val)))
        if not self.metric_names:
            self.metric_names = pick_metrics(metrics, self.monitored, self.task)
        for name in self.metric_names:
            value = metrics.get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.metrics.setdefault(name, []).append((float(epoch), float(value)))
        if is_best:
            self.best_epoch = epoch
            best = metrics.get(self.monitored) if self.monitored else None
            self.best_value = float(best) if isinstance(best, (int, float)) else None
        if not self.train.xs or self.train.xs[-1] <= epoch - 1:
            # no progress inside this epoch (shorter than the progress interval): its means
            for series, key in ((self.train, "train_loss"), (self.lr, "lr")):
                value = metrics.get(key)
                if isinstance(value, (int, float)):
                    series.append(float(epoch), float(value))
            self._parts(float(epoch), epoch_parts(metrics))

    def _parts(self, x: float, parts: dict[str, Any] | None) -> None:
        """Add a point to each loss part's series (a detector's; none for other tasks)."""
        for name, value in (parts or {}).items():
            if isinstance(value, (int, float)):
                self.parts.setdefault(name, XYSeries()).append(x, float(value))

    # -- a run directory's history ---------------------------------------------------------------
    @classmethod
    def from_records(
        cls, records: Iterable[dict[str, Any]], epochs: int = 0, monitored: str | None = None
    ) -> Curves:
        """Curves from metrics.jsonl lines (`event`: step, epoch, lr_plan; others are ignored)."""
        curves = cls(epochs=epochs, monitored=monitored)
        for rec in records:
            kind = rec.get("event")
            if kind == "step":
                curves._record_step(rec)
            elif kind == "epoch" and isinstance(rec.get("epoch"), int):
                curves.epochs = max(curves.epochs, rec["epoch"])
                curves._epoch(rec["epoch"], rec, bool(rec.get("is_best")))
            elif kind == "started" and isinstance(rec.get("task"), str):
                curves.task = rec["task"]
            elif kind == "lr_plan" and isinstance(rec.get("points"), list):
                curves.plan = [(float(p[0]), float(p[1])) for p in rec["points"] if len(p) == 2]
        curves.version += 1
        return curves

    def _record_step(self, rec: dict[str, Any]) -> None:
        try:
            if rec.get("phase", "train") != "train" or not rec.get("steps"):  # "phase": older runs
                return
            x = float(rec["epoch"]) - 1 + float(rec["step"]) / float(rec["steps"])
            self.epochs = max(self.epochs, int(rec.get("epochs") or 0))
            self.train.append(x, float(rec["loss"]))
            self.lr.append(x, float(rec["lr"]))
            parts = rec.get("loss_parts")
            self._parts(x, parts if isinstance(parts, dict) else None)
        except (KeyError, TypeError, ValueError):
            return  # a line this version does not understand: skip it, keep the rest

    # -- derived ---------------------------------------------------------------------------------
    @property
    def metric_name(self) -> str | None:
        """The main plotted metric (the monitored one unless that is a loss)."""
        return self.metric_names[0] if self.metric_names else None

    @property
    def metric(self) -> list[tuple[float, float]]:
        """The main metric's (epoch, value) points."""
        return self.metrics.get(self.metric_name or "", [])

    @property
    def second_name(self) -> str | None:
        """The metric drawn beside the main one (detection: val_map50), if any."""
        return self.metric_names[1] if len(self.metric_names) > 1 else None

    @property
    def second(self) -> list[tuple[float, float]]:
        """The second metric's (epoch, value) points."""
        return self.metrics.get(self.second_name or "", [])

    @property
    def progress(self) -> float:
        """How far the run got, in epochs (the last measured x)."""
        last = [self.train.xs[-1]] if self.train.xs else []
        last += [self.lr.xs[-1]] if self.lr.xs else []
        last += [self.val_loss[-1][0]] if self.val_loss else []
        return max(last, default=0.0)

    def plan_ahead(self) -> list[tuple[float, float]]:
        """The planned LR from where the run is now to the end (what the LR plot dims)."""
        now = self.progress
        ahead = [(x, y) for x, y in self.plan if x >= now]
        if ahead and self.lr.xs and ahead[0][0] > now:  # join the measured curve
            ahead.insert(0, (now, self.lr.ys[-1]))
        return ahead

    def x_extent(self) -> float:
        """The x axis' right end: the planned epochs, or further if the run went further."""
        return max(float(self.epochs), self.progress, 1.0)
