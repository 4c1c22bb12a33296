"""A run at a glance, for listings (`runs`, the runs browser): a few KB read per run.

summary.json, the first line of metrics.jsonl (when the run started) and its tail, read
backwards only as far as the last epoch line (progress, best so far, the planned epochs as
steering left them). config.yaml is read only when the records do not say how many epochs are
planned. Whether a run without a summary is live is for its control socket to say
(`remote/runs.py`); here it `DIED`. So is a resumed run's: the summary.json of its earlier
segment stays until the resume ends, and records written after it (not ending in `finished`)
say it is out of date.

The latest alert is the newest `alert` record among the records read (back to the last epoch
line), else the one summary.json names; a live run's socket names its own (`remote/runs.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_trainer.runlog.check import finite, is_int
from tui_trainer.runlog.layout import ALERT, METRICS, SUMMARY
from tui_trainer.runlog.lines import DamagedLine, head_lines, parse_line, tail_lines
from tui_trainer.runlog.reader import Damaged, planned_by, read_config, read_summary
from tui_trainer.runlog.status import Status, from_summary
from tui_trainer.runlog.summary import RunSummary

HEAD_BYTES = 4 * 1024  # the first `started` line
TAIL_BYTES = 16 * 1024  # the last records; doubled until an epoch line is found ...
TAIL_MAX_BYTES = 1024 * 1024  # ... up to this much (one long epoch's step lines)


@dataclass
class Glance:
    """What a listing shows of one run (its status before asking a live run's socket)."""

    run_dir: Path
    status: Status
    summary: RunSummary | None
    epoch: int
    epochs: int
    best: tuple[str | None, float | None, int | None]
    started: float | None
    last_time: float | None  # the newest record's time
    damaged_lines: int = 0
    alert: dict[str, Any] | None = None  # the latest alert: rule, message, time (see below)


def glance(run_dir: Path) -> Glance:
    """Read what a listing needs; `Damaged` (one line naming the file) if a file is not usable."""
    summary = read_summary(run_dir)
    path = run_dir / METRICS
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            written = os.fstat(fh.fileno()).st_mtime_ns
            head = _Backwards(reversed(head_lines(fh, HEAD_BYTES)))
            started = next((r for r in head.records() if r["event"] == "started"), None)
            nbytes = TAIL_BYTES
            while True:
                tail = _Backwards(tail_lines(fh, size, nbytes))
                last = next((r for r in tail.records() if r["event"] == "epoch"), None)
                if last is not None or nbytes >= min(size, TAIL_MAX_BYTES):
                    break
                nbytes *= 4
    except OSError as exc:
        raise Damaged(f"{path}: cannot be read ({exc.strerror})") from None
    if summary is not None and _resumed_since(run_dir, written, tail.newest):
        summary = None  # an earlier segment's: the run went on (live, or died since)
    epochs = tail.epochs or head.epochs or read_config(run_dir).get("epochs") or 0
    best: tuple[str | None, float | None, int | None] = (None, None, None)
    if last is not None and last.get("best_metric"):
        best = (str(last["best_metric"]), last.get("best_value"), last.get("best_epoch"))
    epoch = last["epoch"] if last else 0
    if summary is not None:
        b = summary.get("best")
        if isinstance(b, dict) and b.get("metric"):
            best = (str(b["metric"]), b.get("value"), b.get("epoch"))
        if last is None and is_int(summary.get("epochs_completed")):
            epoch = summary["epochs_completed"]
    when = started.get("time") if started else None
    return Glance(
        run_dir=run_dir,
        status=from_summary(summary),
        summary=summary,
        epoch=epoch,
        epochs=int(epochs),
        best=best,
        started=float(when) if finite(when) else None,
        last_time=tail.last_time,
        damaged_lines=head.damaged + tail.damaged,
        alert=tail.alert or _summary_alert(summary),
    )


def _summary_alert(summary: RunSummary | None) -> dict[str, Any] | None:
    """The last alert a finished run's summary.json names (`alerts.last`)."""
    alerts = summary.get("alerts") if summary is not None else None
    last = alerts.get("last") if isinstance(alerts, dict) else None
    return _alert_fields(last) if isinstance(last, dict) else None


def _alert_fields(record: dict[str, Any]) -> dict[str, Any] | None:
    """rule, message and time of an alert record (None when it is not one)."""
    rule, message, when = record.get("rule"), record.get("message"), record.get("time")
    if not isinstance(rule, str) or not isinstance(message, str):
        return None
    return {"rule": rule, "message": message, "time": float(when) if finite(when) else None}


def _resumed_since(run_dir: Path, metrics_written: int, newest: str | None) -> bool:
    """summary.json is an earlier segment's: records were written after it and the newest is
    not a `finished` one (a resume keeps the old summary until it ends). Both, so that a run
    folder copied without its times (summary.json older than metrics.jsonl) still reads as it
    ended."""
    if newest in (None, "finished"):
        return False
    try:
        return metrics_written > os.stat(run_dir / SUMMARY).st_mtime_ns
    except OSError:
        return False


class _Backwards:
    """Records parsed newest first, only as far as a caller reads (a listing needs the last
    few); notes the newest time and planned epochs met on the way."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self.lines = lines
        self.damaged = 0
        self.epochs: int | None = None
        self.last_time: float | None = None
        self.newest: str | None = None  # the newest record's event
        self.alert: dict[str, Any] | None = None  # the newest alert record read

    def records(self) -> Iterator[dict[str, Any]]:
        for line in reversed(list(self.lines)):
            try:
                record = parse_line(line, 0)
            except DamagedLine:
                self.damaged += 1
                continue
            if record is None:
                continue
            if self.newest is None:
                self.newest = str(record.get("event"))
            if self.last_time is None and finite(record.get("time")):
                self.last_time = float(record["time"])
            if self.epochs is None:
                self.epochs = planned_by(record)
            if self.alert is None and record.get("event") == ALERT:
                self.alert = _alert_fields(record)
            yield record
