"""The runs browser's data: listing, sorting and filtering runs, reading one, planning actions.

No Textual here (the screens in `tui/screens/runs.py` and `run_detail.py` show it). Listing uses
`remote.runs` (what `tui-trainer runs` prints: status, liveness, best metric), which reads a few
KB of each run (`runlog.glance`); an opened run is read by the one reader (`runlog.read_run`,
tolerant: damaged lines are skipped and named; a long run's step lines are sampled). A run whose
files cannot be used is listed among `Listing.problems`, never hiding the others.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_trainer import formatting as fmt
from tui_trainer.compare import metric_rows
from tui_trainer.remote.runs import RunInfo, find_run_dirs, inspect
from tui_trainer.rundir import busy_error, holder_info
from tui_trainer.runlog import METRICS, SUMMARY, Damaged, RunRecord, read_run
from tui_trainer.tui.curves import Curves

SORTS = ("date", "best")
"""Orders of the runs list: newest first, or best monitored metric first."""


@dataclass
class Listing:
    """Every run found under a root, and the runs that could not be inspected."""

    root: Path
    runs: list[RunInfo]
    problems: list[str] = field(default_factory=list)
    missing: bool = False  # the root folder does not exist (yet)


def run_name(info: RunInfo) -> str:
    """`<preset>/<timestamp>`: the run directory's last two parts, as legends show it."""
    return "/".join(Path(info.run_dir).parts[-2:])


Cache = dict[str, tuple[tuple[int, ...], RunInfo]]
"""What `scan` learnt last time: a run that is not live and whose files did not change is not
read again."""


def _stamp(run_dir: Path) -> tuple[int, ...] | None:
    """When and how big the run directory (an entry added or removed: a resume's `.endpoint`,
    a new summary), metrics.jsonl and summary.json are; None when it cannot be told."""
    folder = str(run_dir)
    try:
        here, metrics = os.stat(folder), os.stat(os.path.join(folder, METRICS))
    except OSError:
        return None
    try:
        summary = os.stat(os.path.join(folder, SUMMARY))
        done: tuple[int, ...] = (summary.st_mtime_ns, summary.st_size)
    except OSError:
        done = (-1, -1)
    return (here.st_mtime_ns, metrics.st_mtime_ns, metrics.st_size, *done)


def scan(root: str | Path, cache: Cache | None = None) -> Listing:
    """Inspect every run directory under `root` (slow for live runs: call it off the UI thread).

    With `cache` (kept between calls) a run that is not live and whose files are unchanged
    (finished, or died) is not read again, so refreshing a list of thousands of runs costs a
    few `stat` calls each; a live run is always asked again (its socket says how it is)."""
    path = Path(root)
    if not path.is_dir():
        return Listing(path, [], missing=True)
    cache = {} if cache is None else cache
    infos, problems, seen = [], [], set()
    for run_dir in find_run_dirs(path):
        key, stamp = str(run_dir), _stamp(run_dir)
        seen.add(key)
        cached = cache.get(key)
        if stamp is not None and cached is not None and cached[0] == stamp:
            infos.append(cached[1])
            continue
        try:
            info = inspect(run_dir)
        except Damaged as exc:  # one damaged directory must not hide the others
            problems.append(str(exc))
            continue
        infos.append(info)
        if stamp is not None and not info.live:
            cache[key] = (stamp, info)
        else:
            cache.pop(key, None)
    for gone in set(cache) - seen:
        del cache[gone]
    return Listing(path, infos, problems)


def lower_is_better(metric: str | None) -> bool:
    """Losses are minimised, everything else (accuracy, Dice, IoU) maximised."""
    return bool(metric) and str(metric).endswith("loss")


def sort_runs(runs: list[RunInfo], by: str) -> list[RunInfo]:
    """Live runs first, then newest first (`date`) or best metric first (`best`: grouped by
    metric, runs without a best value last, ties newest first)."""
    if by == "best":

        def best_key(i: RunInfo) -> tuple[Any, ...]:
            value = i.best_value
            if not isinstance(value, (int, float)) or math.isnan(value):
                return (1, "", 0.0, -(i.started or 0.0))
            signed = value if lower_is_better(i.best_metric) else -value
            return (0, i.best_metric or "", signed, -(i.started or 0.0))

        return sorted(runs, key=best_key)
    return sorted(runs, key=lambda i: (not i.live, -(i.started or 0.0), i.run_dir))


def filter_runs(runs: list[RunInfo], text: str) -> list[RunInfo]:
    """Runs whose preset or name contains every word of `text` (case-insensitive)."""
    words = text.lower().split()
    if not words:
        return list(runs)
    return [i for i in runs if all(w in f"{i.preset} {run_name(i)}".lower() for w in words)]


def status_text(info: RunInfo) -> str:
    """`● running` for a live run (the dot marks it), else the recorded status."""
    return f"● {info.status}" if info.live else str(info.status)


def progress_text(info: RunInfo) -> str:
    """`3/10` epochs (or just the count when the plan is unknown)."""
    return f"{info.epoch}/{info.epochs}" if info.epochs else str(info.epoch)


def best_text(info: RunInfo) -> str:
    """`val acc 97.81% @9`, or `-`."""
    value = info.best_value
    if not info.best_metric or not isinstance(value, (int, float)) or math.isnan(value):
        return "-"
    epoch = f" @{info.best_epoch}" if info.best_epoch else ""
    return f"{fmt.metric_label(info.best_metric)} {fmt.metric(info.best_metric, value)}{epoch}"


def started_text(info: RunInfo) -> str:
    """`12-01 09:41` (local time), or `-`."""
    return time.strftime("%m-%d %H:%M", time.localtime(info.started)) if info.started else "-"


def took_text(info: RunInfo) -> str:
    """Wall time so far or in all."""
    return fmt.duration(info.seconds) if info.seconds is not None else "-"


# -- one run, opened ---------------------------------------------------------------------------
@dataclass
class OpenedRun:
    """A run directory read in full: its record, curves, per-class report and read problems."""

    record: RunRecord
    curves: Curves
    report: str
    warning: str | None = None  # what could not be read (the rest is shown)

    @property
    def name(self) -> str:
        """`<preset>/<timestamp>`."""
        return self.record.name


def read_tolerant(path: str | Path) -> tuple[RunRecord, str | None]:
    """The run read tolerantly (call it off the UI thread), and what could not be read: the
    first damaged file or line and how many more, or None."""
    record = read_run(path, strict=False)
    if not record.warnings:
        return record, None
    more = len(record.warnings) - 1
    extra = f" and {more} more" if more else ""
    return record, f"{record.warnings[0]}{extra} (damaged lines are skipped)"


def open_run(path: str | Path) -> OpenedRun:
    """Read one run for the detail view (`read_tolerant`) with its curves and report."""
    record, warning = read_tolerant(path)
    curves = Curves.from_records(record.records, record.planned_epochs, record.monitored[0])
    return OpenedRun(record, curves, record.report, warning)


def summary_rows(opened: OpenedRun) -> list[tuple[str, str]]:
    """The summary panel: status, epochs, best and final metrics, speed, where, how to replay."""
    rec = opened.record
    rows = [(label, cells[0]) for label, cells in metric_rows([rec])]
    started = rec.started
    if started is not None:
        rows.insert(0, ("started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))))
    error = rec.summary.get("error") if rec.summary else None
    if error:
        rows.append(("error", str(error)))
    alerts = rec.summary.get("alerts") if rec.summary else None
    last = alerts.get("last") if isinstance(alerts, dict) else None
    if isinstance(last, dict) and isinstance(last.get("message"), str):
        count = alerts.get("count") if isinstance(alerts, dict) else None
        more = f" ({count} in all)" if isinstance(count, int) and count > 1 else ""
        rows.append(("last alert", f"{last.get('rule')}: {last['message']}{more}"))
    rows.append(("run dir", str(rec.path)))
    return rows


# -- actions -----------------------------------------------------------------------------------
def refuse_if_live(run_dir: str | Path) -> None:
    """`RunDirBusy` (the message a second writer gets) while a process writes `run_dir`."""
    info = holder_info(run_dir)
    if info is not None:
        raise busy_error(run_dir, info)


def replay_argv(run_dir: str, out: str | None) -> list[str]:
    """`tui-trainer replay RUN_DIR [--out OUT]` (what "in the background" starts)."""
    return ["replay", run_dir, *(["--out", out] if out else [])]


def resume_argv(run_dir: str) -> list[str]:
    """`tui-trainer run --resume RUN_DIR` (a resume continues in the run's own directory)."""
    return ["run", "--resume", run_dir]
