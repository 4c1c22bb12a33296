"""`tui-trainer runs [ROOT] [--json]`: every run under ROOT, live ones first.

A run's status comes from summary.json when it has one; otherwise from its control socket
(`running`, `paused`, `stopping`, ...) when that answers; otherwise it `died` (killed, power
loss): its process ended without a summary, and its stale endpoint is cleaned up.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tui_trainer.errors import UserError
from tui_trainer.remote.client import request
from tui_trainer.remote.endpoint import NotLive
from tui_trainer.remote.history import is_run_dir, read_config, read_summary

LIVE = ("running", "pausing", "paused", "stopping")
HEAD_BYTES = 16 * 1024  # the `started` line is near the top
TAIL_BYTES = 64 * 1024  # the last epoch lines and the last event time are near the end


@dataclass
class RunInfo:
    """One row of the `runs` table."""

    run_dir: str
    preset: str
    status: str
    live: bool
    epoch: int
    epochs: int
    best_metric: str | None
    best_value: float | None
    best_epoch: int | None
    started: float | None  # epoch seconds
    seconds: float | None  # wall time so far (live) or in all
    pid: int | None = None


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories under `root` (root itself may be one), at most three levels down."""
    if is_run_dir(root):
        return [root]
    found = []
    for depth in ("*", "*/*", "*/*/*"):
        found += [p for p in root.glob(depth) if p.is_dir() and is_run_dir(p)]
    return sorted(set(found))


def inspect(run_dir: Path) -> RunInfo:
    """Status, progress and best metric of one run directory (reads only the head and the
    tail of metrics.jsonl, so listing hundreds of long runs stays quick)."""
    records = head_and_tail(run_dir / "metrics.jsonl")
    config = read_config(run_dir)
    summary = read_summary(run_dir)
    epochs_total = int(config.get("epochs") or 0)
    started = next((r.get("time") for r in records if r["event"] == "started"), None)
    last_time = records[-1].get("time") if records else None
    epoch_rows = [r for r in records if r["event"] == "epoch"]
    best = _best(epoch_rows)
    status, live, pid, seconds = "died", False, None, None
    if summary is not None:
        status = str(summary.get("status", "unknown"))
        seconds = summary.get("wall_seconds")
        b = summary.get("best")
        if isinstance(b, dict) and b.get("metric"):
            best = (str(b["metric"]), b.get("value"), b.get("epoch"))
    else:
        try:
            reply = request(run_dir, "status", timeout=2.0)
        except NotLive:
            reply = None
        if reply is not None and reply.get("ok"):
            status, live, pid = str(reply.get("state", "running")), True, reply.get("pid")
            seconds = time.time() - started if isinstance(started, (int, float)) else None
            epochs_total = int(reply.get("epochs") or epochs_total)
        elif isinstance(started, (int, float)) and isinstance(last_time, (int, float)):
            seconds = last_time - started
    epoch = int(epoch_rows[-1].get("epoch", len(epoch_rows))) if epoch_rows else 0
    return RunInfo(
        run_dir=str(run_dir),
        preset=run_dir.parent.name,
        status=status,
        live=live,
        epoch=epoch,
        epochs=epochs_total,
        best_metric=best[0],
        best_value=best[1],
        best_epoch=best[2],
        started=started if isinstance(started, (int, float)) else None,
        seconds=round(seconds, 1) if isinstance(seconds, (int, float)) else None,
        pid=pid,
    )


def head_and_tail(path: Path) -> list[dict[str, Any]]:
    """The complete, parseable metrics.jsonl lines in its first HEAD_BYTES and last TAIL_BYTES
    (the whole file when it is small); damaged lines are skipped."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(0)
            if size <= HEAD_BYTES + TAIL_BYTES:
                chunks = [fh.read()]
            else:
                head = fh.read(HEAD_BYTES)
                fh.seek(size - TAIL_BYTES)
                tail = fh.read()
                chunks = [head.rsplit(b"\n", 1)[0] + b"\n", tail.split(b"\n", 1)[-1]]
    except OSError:
        return []
    records = []
    for chunk in chunks:
        for line in chunk.split(b"\n")[:-1]:  # after the last newline: a line being written
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("event"), str):
                records.append(record)
    return records


def _best(rows: list[dict[str, Any]]) -> tuple[str | None, float | None, int | None]:
    for row in reversed(rows):
        if row.get("best_metric"):
            return str(row["best_metric"]), row.get("best_value"), row.get("best_epoch")
    return None, None, None


def list_runs(root: str | Path) -> list[RunInfo]:
    """Every run under `root`: live ones first, then newest first."""
    path = Path(root)
    if not path.is_dir():
        raise UserError(f"{root}: no such directory (expected a runs folder, e.g. runs)")
    infos = [inspect(p) for p in find_run_dirs(path)]
    return sorted(infos, key=lambda i: (not i.live, -(i.started or 0.0)))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _metric(info: RunInfo) -> str:
    if not info.best_metric or not isinstance(info.best_value, (int, float)):
        return "-"
    if math.isnan(info.best_value):
        return "-"
    return f"{info.best_metric} {info.best_value:.4g} (epoch {info.best_epoch})"


def format_table(infos: list[RunInfo]) -> str:
    """The `runs` table as text."""
    header = ("RUN", "PRESET", "STATUS", "EPOCH", "BEST", "STARTED", "DURATION")
    rows = [
        (
            i.run_dir,
            i.preset,
            i.status,
            f"{i.epoch}/{i.epochs}" if i.epochs else str(i.epoch),
            _metric(i),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(i.started)) if i.started else "-",
            _duration(i.seconds),
        )
        for i in infos
    ]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def cmd_runs(root: str, as_json: bool) -> int:
    """`tui-trainer runs`: print the table (or JSON); exit 0."""
    infos = list_runs(root)
    if as_json:
        print(json.dumps([asdict(i) for i in infos], indent=2))
    elif not infos:
        print(f"no runs under {root}")
    else:
        print(format_table(infos))
    return 0
