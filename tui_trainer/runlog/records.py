"""Engine events as JSON records (the lines of metrics.jsonl) and back again.

One mapping serves the run directory (`RunDirWriter` appends these records to metrics.jsonl) and
the control socket (`tui_trainer.remote` streams the very same records to watchers), so a watcher
can rebuild the run screen from the file, from the socket, or from both. `from_record` is the
inverse: it returns the engine event a record stands for, or None for a record it cannot read
(an unknown event, a missing key), so a damaged line never breaks a reader.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from typing import Any, cast

from tui_trainer.runlog.events import (
    Alert,
    CheckpointSaved,
    ConfigChanged,
    EpochEnd,
    Event,
    LogMessage,
    LRPlan,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    SamplesWritten,
    Steered,
    StepProgress,
    ValidationProgress,
)
from tui_trainer.runlog.layout import ALERT, EPOCH_FIELDS, KEPT, STEP, VALIDATING
from tui_trainer.runlog.pictures import SAMPLES_EVENT
from tui_trainer.runlog.status import Status
from tui_trainer.runlog.summary import RunSummary

__all__ = ["ALERT", "EPOCH_FIELDS", "KEPT", "STEP", "VALIDATING", "from_record", "to_record"]


def to_record(event: Event, now: float) -> dict[str, Any]:
    """The JSON object for `event` (what metrics.jsonl stores), stamped with `now` (epoch s)."""
    now = round(now, 3)
    match event:
        case StepProgress():
            record = {"event": STEP, "time": now, **asdict(event)}
            for key in ("loss_parts", "time_parts"):  # optional: no null on every line
                if record[key] is None:
                    del record[key]
            return record
        case ValidationProgress():
            return {"event": VALIDATING, "time": now, **asdict(event)}
        case EpochEnd():
            metrics = {k: v for k, v in event.metrics.items() if k not in EPOCH_FIELDS}
            return {  # the bookkeeping keys are the run's: no metric can displace them
                "event": "epoch",
                "time": now,
                "epoch": event.epoch,
                **metrics,
                "is_best": event.is_best,
                "epochs": event.epochs,
                "best_metric": event.best_metric,
                "best_value": event.best_value,
                "best_epoch": event.best_epoch,
            }
        case RunStarted():
            return {
                "event": "started",
                "time": now,
                "preset": event.preset,
                "device": event.device,
                "precision": event.precision,
                "start_epoch": event.start_epoch,
                "trainable_params": event.trainable_params,
                "total_params": event.total_params,
                "run_dir": event.run_dir,
                "epochs": event.epochs,
                "steps_per_epoch": event.steps_per_epoch,
                "task": event.task,
                "world_size": event.world_size,
                "warnings": list(event.warnings),
                "pid": os.getpid(),
            }
        case ConfigChanged():
            return {"event": "config", "time": now, "reason": event.reason}
        case CheckpointSaved():
            return {"event": "checkpoint", "time": now, **asdict(event)}
        case LogMessage():
            return {"event": "log", "time": now, **asdict(event)}
        case Alert():
            return {"event": ALERT, **asdict(event)}
        case LRPlan():
            points = [[x, lr] for x, lr in event.points]
            return {"event": "lr_plan", "time": now, "reason": event.reason, "points": points}
        case Steered():
            return {"event": "steer", "time": now, **asdict(event)}
        case SamplesWritten():
            return {
                "event": SAMPLES_EVENT,
                "time": now,
                "epoch": event.epoch,
                "dir": event.folder,
                "mistakes": event.mistakes,
            }
        case Paused() | Resumed():
            name = "paused" if isinstance(event, Paused) else "resumed"
            return {"event": name, "time": now, **asdict(event)}
        case RunFinished():
            return {
                "event": "finished",
                "time": now,
                "status": event.status,
                "summary": event.summary,
                "report": event.report,
                "error": event.error,
                "traceback": event.traceback,
            }
    raise TypeError(f"not an engine event: {event!r}")


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


def _rate(value: Any) -> float | None:
    """An optional figure: None when absent or not a finite number."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def from_record(record: dict[str, Any], config: dict[str, Any] | None = None) -> Event | None:
    """The event a metrics.jsonl record stands for (None when unknown or incomplete).

    `config` fills `RunStarted.config` (the record leaves it to config.yaml).
    """
    try:
        return _from_record(record, config or {})
    except (KeyError, TypeError, ValueError, OverflowError):  # int(1e400) is an OverflowError
        return None


def _from_record(r: dict[str, Any], config: dict[str, Any]) -> Event | None:
    kind = r.get("event")
    if kind == STEP:
        return StepProgress(
            epoch=int(r["epoch"]),
            epochs=int(r["epochs"]),
            step=int(r["step"]),
            steps=int(r["steps"]),
            global_step=int(r["global_step"]),
            loss=_float(r["loss"]),
            lr=_float(r["lr"]),
            samples_per_second=_rate(r.get("samples_per_second")),
            elapsed=_float(r["elapsed"]),
            grad_norm=_rate(r.get("grad_norm")),
            steps_per_second=_rate(r.get("steps_per_second")),
            epoch_elapsed=_rate(r.get("epoch_elapsed")),
            loss_parts=_parts(r.get("loss_parts")),
            time_parts=_parts(r.get("time_parts")),
        )
    if kind == VALIDATING:
        batch, batches = int(r["batch"]), int(r["batches"])
        if not 0 <= batch <= batches:
            raise ValueError(f"batch {batch} of {batches}")
        return ValidationProgress(
            epoch=int(r["epoch"]),
            epochs=int(r["epochs"]),
            batch=batch,
            batches=batches,
            seconds=_float(r["seconds"]),
        )
    if kind == "epoch":
        metrics = {k: _float(v) for k, v in r.items() if k not in EPOCH_FIELDS - {"epoch"}}
        return EpochEnd(
            epoch=int(r["epoch"]),
            epochs=int(r.get("epochs") or config.get("epochs") or r["epoch"]),
            metrics=metrics,
            seconds=_float(r.get("epoch_seconds", 0.0)),
            is_best=bool(r.get("is_best")),
            best_metric=str(r.get("best_metric", "")),
            best_value=r.get("best_value"),
            best_epoch=r.get("best_epoch"),
        )
    if kind == "started":
        return RunStarted(
            run_dir=r.get("run_dir"),
            preset=str(r["preset"]),
            config=config,
            device=str(r["device"]),
            precision=str(r["precision"]),
            epochs=int(r.get("epochs") or config.get("epochs") or 0),
            start_epoch=int(r.get("start_epoch", 0)),
            steps_per_epoch=int(r.get("steps_per_epoch", 0)),
            trainable_params=int(r.get("trainable_params", 0)),
            total_params=int(r.get("total_params", 0)),
            task=str(r.get("task", config.get("task", "classification"))),
            class_names=[],
            warnings=[str(w) for w in r.get("warnings", [])],
            world_size=int(r.get("world_size", 1)),
        )
    if kind == "checkpoint":
        return CheckpointSaved(
            str(r["path"]), str(r["reason"]), int(r["epoch"]), int(r["global_step"])
        )
    if kind == "log":
        return LogMessage(str(r["level"]), str(r["message"]))
    if kind == ALERT:
        return Alert(
            rule=str(r["rule"]),
            message=str(r["message"]),
            level=str(r.get("level", "warning")),
            epoch=int(r.get("epoch", 0)),
            step=int(r.get("step", 0)),
            value=_rate(r.get("value")),
            threshold=_rate(r.get("threshold")),
            action=str(r.get("action", "none")),
            time=_float(r["time"]),
            bell=bool(r.get("bell", True)),
        )
    if kind == "lr_plan":
        points = [(float(x), float(lr)) for x, lr in r["points"]]
        return LRPlan(points, str(r.get("reason", "")))
    if kind == "config":
        return ConfigChanged(config, str(r.get("reason", "")))
    if kind == "steer":
        metrics = r.get("metrics") or {}
        return Steered(
            global_step=int(r["global_step"]),
            epoch=int(r["epoch"]),
            change=str(r["change"]),
            what=str(r["what"]),
            old=r.get("old"),
            new=r.get("new"),
            source=str(r.get("source", "")),
            metrics={str(k): _float(v) for k, v in metrics.items()},
        )
    if kind == SAMPLES_EVENT:
        mistakes = r.get("mistakes")
        return SamplesWritten(
            int(r["epoch"]), str(r["dir"]), str(mistakes) if mistakes is not None else None
        )
    if kind in ("paused", "resumed"):
        cls = Paused if kind == "paused" else Resumed
        return cls(int(r["epoch"]), int(r["step"]))
    if kind == "finished":
        status = str(r["status"])
        raw = r.get("summary")
        # JSON read back: the keys are RunSummary's, any of them may be missing (readers use .get)
        summary = cast(RunSummary, raw) if isinstance(raw, dict) else RunSummary(status=status)
        error, trace = r.get("error"), r.get("traceback")
        trace = trace if isinstance(trace, str) else None
        report = str(r.get("report") or "")
        return RunFinished(Status.parse(status), summary, report, error, trace)
    return None


def _parts(value: Any) -> dict[str, float] | None:
    """A step record's loss or time parts (None when absent or not a mapping)."""
    if not isinstance(value, dict):
        return None
    return {str(k): _float(v) for k, v in value.items()}
