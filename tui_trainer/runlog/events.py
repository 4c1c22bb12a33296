"""Immutable events the engine emits; every front end (TUI, console, files) subscribes to them.

Events carry plain Python values only (no tensors, no trainer objects), so a subscriber can keep
them, serialise them or hand them to another thread safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tui_trainer.runlog.status import Status
from tui_trainer.runlog.summary import RunSummary


@dataclass(frozen=True)
class RunStarted:
    """The run is set up and about to train its first step."""

    run_dir: str | None
    preset: str
    config: dict[str, Any]
    device: str
    precision: str
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    trainable_params: int
    total_params: int
    task: str
    class_names: list[str]
    warnings: list[str] = field(default_factory=list)
    world_size: int = 1  # processes training together (data.batch_size is per process)


@dataclass(frozen=True)
class StepProgress:
    """Throttled progress inside an epoch (a few per second, never every step)."""

    epoch: int  # 1-based
    epochs: int
    step: int  # micro-batches done in this epoch
    steps: int  # micro-batches in this epoch
    global_step: int  # optimizer steps done in the whole run
    loss: float  # mean train loss over the steps since the previous StepProgress
    lr: float
    samples_per_second: float | None  # smoothed (engine.rate); None: no meaningful window yet
    elapsed: float  # training seconds in this run: pauses, validation, checkpoint saves excluded
    grad_norm: float | None = None  # the last step's gradient norm before clipping (clip on)
    steps_per_second: float | None = None  # smoothed micro-batches ("it") per second
    epoch_elapsed: float | None = None  # training seconds of this epoch (this process)
    loss_parts: dict[str, float] | None = None  # a detector's loss by part, same window as loss
    # where the window's training time went, as fractions summing to 1, keys exactly "data"
    # (waiting on the loader), "copy" (host to device), "compute" (forward+backward),
    # "optimizer" (the step) and "other"; None: not measured (engine.time_split)
    time_parts: dict[str, float] | None = None


@dataclass(frozen=True)
class ValidationProgress:
    """Throttled progress of a validation pass (every `progress.interval`, rank 0's share of
    the validation data; a pass shorter than the interval sends none). Ephemeral like
    `StepProgress`: the epoch's record carries what was measured."""

    epoch: int  # 1-based: the epoch the pass validates
    epochs: int
    batch: int  # validation batches done in this pass
    batches: int  # validation batches in this pass (this process's share)
    seconds: float  # seconds since the pass began


@dataclass(frozen=True)
class EpochEnd:
    """An epoch finished, with validation metrics.

    `metrics["lr"]` is the learning rate of the epoch's last optimizer step: the schedule is
    per step, so it is the value at the epoch's end, not the one the epoch started with (which
    torchvision's reference logs with a per-epoch scheduler); the LR plan (`LRPlan`) has the
    whole curve.
    """

    epoch: int  # 1-based
    epochs: int
    metrics: dict[str, float]  # train_loss, val_loss, lr (see above), val_accuracy / val_dice, ...
    seconds: float
    is_best: bool
    best_metric: str
    best_value: float | None
    best_epoch: int | None


@dataclass(frozen=True)
class LogMessage:
    """A line for the log: phase changes, warnings, notes."""

    level: str  # "info", "warning", "error"
    message: str


@dataclass(frozen=True)
class Alert:
    """A watchdog rule tripped (`engine.watchdog`; the rules are the config's `alerts:`).

    Written to metrics.jsonl as an `alert` record, shown in the log, rung in every attached
    terminal when `bell` (the run's `alerts.bell`), posted to `alerts.webhook`.
    """

    rule: str  # nonfinite | spike | plateau | stall | gpu_idle | data_wait | eta
    message: str  # one line a person can act on
    level: str  # "warning" or "error"
    epoch: int  # 1-based, the epoch in progress (0 before the first step)
    step: int  # optimizer steps of the run done
    value: float | None  # what was measured (None where nothing is: a non-finite loss)
    threshold: float | None  # what it was held against
    action: str  # what the run did about it: none, pause, checkpoint, stop, lr=...
    time: float  # wall clock (epoch seconds) when raised: a replayed old alert rings no bell
    bell: bool = True


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint was written atomically."""

    path: str
    reason: str  # "epoch", "request", "periodic", "stop", "signal", "oom"
    epoch: int  # epochs completed when it was saved (a mid-epoch save holds the position too)
    global_step: int


@dataclass(frozen=True)
class SamplesWritten:
    """A validation pass's pictures are in place (`runlog.pictures`): the fixed samples in
    `folder`, the worst mistakes in `mistakes` (None: none kept); both relative to the run
    directory. Recorded as a `samples` record in metrics.jsonl."""

    epoch: int  # 1-based, the epoch whose validation made them
    folder: str  # samples/epoch-0003
    mistakes: str | None = None  # samples/mistakes


@dataclass(frozen=True)
class ConfigChanged:
    """The run changed its own config (oom=reduce halved the batch); `config` is the new one."""

    config: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class LRPlan:
    """The LR the schedule will apply over the whole run, as `(epoch progress, lr)` pairs.

    Emitted right after `RunStarted` and again whenever the plan changes (a plateau cut, or
    steering that changes the LR or the number of epochs); the newest one is the plan. Computed
    by the engine's own schedule, so front ends never re-implement it.
    """

    points: list[tuple[float, float]]
    reason: str  # "start", "plateau", "steer", ...


@dataclass(frozen=True)
class Steered:
    """A steering change took effect at an optimizer-step boundary (see `config.steering`).

    `old` and `new` are plain values (an LR, an epoch count, "frozen"/"trainable"); `metrics`
    holds a validate-now pass's results. `source` is "live" (ctl, a key) or "scheduled" (the
    config's `steering:` list: a preset, or a replay of recorded changes).
    """

    global_step: int  # optimizer steps done when it took effect
    epoch: int  # 1-based, the epoch in progress
    change: str  # canonical text: lr=0.001, lr=*0.5, unfreeze, epochs=30, validate
    what: str  # lr | unfreeze | epochs | validate
    old: Any
    new: Any
    source: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Paused:
    """Training paused at a step boundary."""

    epoch: int
    step: int


@dataclass(frozen=True)
class Resumed:
    """Training resumed after a pause."""

    epoch: int
    step: int


@dataclass(frozen=True)
class RunFinished:
    """The run ended; `summary` is what summary.json holds (status, best, final, ...)."""

    status: Status  # completed | stopped | interrupted | failed (a plain name is parsed)
    summary: RunSummary
    report: str  # the per-class report as text ("" when there is none)
    error: str | None = None
    traceback: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status.parse(self.status))


Event = (
    RunStarted
    | StepProgress
    | ValidationProgress
    | EpochEnd
    | LogMessage
    | Alert
    | CheckpointSaved
    | SamplesWritten
    | ConfigChanged
    | LRPlan
    | Steered
    | Paused
    | Resumed
    | RunFinished
)
Sink = Callable[[Event], None]


class EventBus:
    """Fans an event out to every subscriber in order; a failing subscriber never stops training."""

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self._sinks: list[Sink] = list(sinks or [])
        self.sink_errors: list[str] = []

    def emit(self, event: Event) -> None:
        """Deliver `event` to every subscriber."""
        for sink in self._sinks:
            try:
                sink(event)
            except Exception as exc:  # a broken display must not kill a training run
                self.sink_errors.append(f"{type(sink).__name__}: {exc!r}")
