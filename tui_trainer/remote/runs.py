"""`tui-trainer runs [ROOT] [--json]`: every run under ROOT, live ones first.

A run's status comes from summary.json when it has one; otherwise from its control socket
(`running`, `paused`, `stopping`, ...) when that answers; otherwise it `died` (killed, power
loss): its process ended without a summary, and its stale endpoint is cleaned up. The reading is
`runlog.glance`'s; a run whose files cannot be used is skipped and named on stderr.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tui_trainer import formatting as fmt
from tui_trainer.errors import UserError
from tui_trainer.remote.client import request
from tui_trainer.remote.endpoint import NotLive
from tui_trainer.runlog import Damaged, Status
from tui_trainer.runlog.check import finite
from tui_trainer.runlog.glance import glance
from tui_trainer.runlog.layout import find_run_dirs
from tui_trainer.runlog.summary import total_wall_seconds

__all__ = ["RunInfo", "cmd_runs", "find_run_dirs", "inspect", "list_runs", "scan_runs"]


@dataclass
class RunInfo:
    """One row of the `runs` table."""

    run_dir: str
    preset: str
    status: Status
    live: bool
    epoch: int
    epochs: int
    best_metric: str | None
    best_value: float | None
    best_epoch: int | None
    started: float | None  # epoch seconds
    seconds: float | None  # wall time so far (live) or in all
    pid: int | None = None
    alert: dict[str, Any] | None = None  # the latest alert: rule, message, time


def inspect(run_dir: Path) -> RunInfo:
    """Status, progress and best metric of one run directory (`runlog.glance`: a few KB of
    metrics.jsonl, so listing thousands of long runs stays quick). `Damaged` if a file of it
    cannot be used."""
    seen = glance(run_dir)
    status, live, pid, seconds = seen.status, False, None, None
    alert = seen.alert
    epochs_total, started = seen.epochs, seen.started
    if seen.summary is not None:
        seconds = total_wall_seconds(seen.summary)  # a resumed run: every segment
    else:
        try:
            reply = request(run_dir, "status", timeout=2.0)
        except NotLive:
            reply = None
        if reply is not None and (reply.get("ok") or reply.get("busy")):  # busy: too many clients
            status, live, pid = (
                Status.parse(reply.get("state", Status.RUNNING)),
                True,
                reply.get("pid"),
            )
            seconds = time.time() - started if started is not None else None
            if isinstance(reply.get("alert"), dict):
                alert = reply["alert"]
            epochs = reply.get("epochs")
            epochs_total = epochs if isinstance(epochs, int) and epochs > 0 else epochs_total
        elif started is not None and seen.last_time is not None:
            seconds = seen.last_time - started
    return RunInfo(
        run_dir=str(run_dir),
        preset=run_dir.parent.name,
        status=status,
        live=live,
        epoch=seen.epoch,
        epochs=epochs_total,
        best_metric=seen.best[0],
        best_value=float(seen.best[1]) if finite(seen.best[1]) else None,
        best_epoch=seen.best[2],
        started=started,
        seconds=round(seconds, 1) if finite(seconds) else None,
        pid=pid if isinstance(pid, int) else None,
        alert=alert,
    )


def scan_runs(root: Path) -> tuple[list[RunInfo], list[str]]:
    """Inspect every run under `root`: the runs, and one line per damaged one (skipped)."""
    infos, damaged = [], []
    for run_dir in find_run_dirs(root):
        try:
            infos.append(inspect(run_dir))
        except Damaged as exc:
            damaged.append(f"skipped {run_dir}: {exc}")
    return infos, damaged


def list_runs(root: str | Path, damaged: list[str] | None = None) -> list[RunInfo]:
    """Every run under `root`: live ones first, then newest first. Damaged runs are left out
    (named in `damaged` when given)."""
    path = Path(root)
    if not path.is_dir():
        raise UserError(f"{root}: no such directory (expected a runs folder, e.g. runs)")
    infos, skipped = scan_runs(path)
    if damaged is not None:
        damaged += skipped
    return sorted(infos, key=lambda i: (not i.live, -(i.started or 0.0)))


def _metric(info: RunInfo) -> str:
    if not info.best_metric or not isinstance(info.best_value, (int, float)):
        return "-"
    if math.isnan(info.best_value):
        return "-"
    return f"{info.best_metric} {info.best_value:.4g} (epoch {info.best_epoch})"


def _alert(info: RunInfo) -> str:
    """The latest alert's rule and time of day (`--json` has its message)."""
    a = info.alert
    if not a:
        return "-"
    when = a.get("time")
    at = time.strftime(" %H:%M", time.localtime(when)) if finite(when) else ""
    return f"{a.get('rule')}{at}"


def format_table(infos: list[RunInfo]) -> str:
    """The `runs` table as text."""
    header = ("RUN", "PRESET", "STATUS", "EPOCH", "BEST", "ALERT", "STARTED", "DURATION")
    rows = [
        (
            i.run_dir,
            i.preset,
            i.status,
            f"{i.epoch}/{i.epochs}" if i.epochs else str(i.epoch),
            _metric(i),
            _alert(i),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(i.started)) if i.started else "-",
            "-" if i.seconds is None else fmt.duration(i.seconds),
        )
        for i in infos
    ]
    return fmt.text_table([header, *rows])


def cmd_runs(root: str, as_json: bool) -> int:
    """`tui-trainer runs`: print the table (or JSON); one line on stderr per damaged run
    (skipped); exit 0."""
    damaged: list[str] = []
    infos = list_runs(root, damaged)
    for line in damaged:
        print(line, file=sys.stderr)
    if as_json:
        print(json.dumps([asdict(i) for i in infos], indent=2))
    elif not infos:
        print(f"no runs under {root}")
    else:
        print(format_table(infos))
    return 0
